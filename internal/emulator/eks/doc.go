// Package eks emulates DescribeCluster of Amazon EKS, which ecrwarden uses to
// find a cluster's API server endpoint and certificate authority, over the
// restJson1 protocol the pinned aws-sdk-go-v2 client (service/eks v1.105.6)
// sends: GET /clusters/{name}, answered with {"cluster": {…}}; errors carry
// the X-Amzn-Errortype header and a JSON body with "message".
//
// Clusters are seeded from Go with [Server.AddCluster], normally with the
// endpoint and CA certificate of the test kube-apiserver.
//
// Faithful:
//   - cluster.name, arn (arn:aws:eks:<region>:<account>:cluster/<name>),
//     endpoint, certificateAuthority.data (the base64 of the PEM CA bundle,
//     as EKS returns it), status ACTIVE, version, platformVersion,
//     createdAt, roleArn, identity.oidc.issuer, accessConfig
//     (authenticationMode API_AND_CONFIG_MAP), kubernetesNetworkConfig,
//     resourcesVpcConfig, upgradePolicy and tags.
//   - An unknown cluster → ResourceNotFoundException (HTTP 404) with
//     clusterName; a name that breaks EKS's naming rule (1–100 letters,
//     digits, hyphens and underscores, starting with a letter or digit) →
//     InvalidParameterException (HTTP 400).
//   - Injected faults: ThrottlingException (HTTP 429), ServerException
//     (5xx), dropped connections and latency.
//
// Not modelled: every other operation (ListClusters, node groups, access
// entries, add-ons), cluster status transitions, and SigV4 (signatures are
// never verified). The cluster's OIDC issuer and VPC ids are placeholders.
package eks
