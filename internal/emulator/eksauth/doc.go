// Package eksauth emulates the part of Amazon EKS that turns a bearer token
// into a Kubernetes user: the aws-iam-authenticator / EKS access-entry
// webhook. A kube-apiserver started with
// --authentication-token-webhook-config-file pointing here sends each bearer
// token in a TokenReview; the server accepts tokens shaped exactly as
// `aws eks get-token` and ecrwarden's kube.EKSTokenSource make them:
//
//	k8s-aws-v1.<unpadded base64url of a presigned STS GetCallerIdentity URL>
//
// and checks what EKS checks: the STS host, Action and Version, the SigV4
// query parameters, an X-Amz-Expires of at most 60 seconds (tokens presigned
// without it are refused, the aws-sdk-go-v2 issue 1922 trap), the token's age
// (15 minutes), that x-k8s-aws-id is a signed header, and — since real STS
// would verify the signature — the signature itself, recomputed with the
// secret key of the access key id and this cluster's name in x-k8s-aws-id.
// A token for another cluster therefore fails, as it does in EKS.
//
// Not modelled: calling STS (identities come from the server's own table),
// session tokens from assumed roles other than as given, and EKS access
// policies (authorization stays with the API server's RBAC).
package eksauth
