package authz

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// Principal is an identity that calls the emulators.
type Principal struct {
	// Name names it in decisions and test output: a function ("onpush") or "admin".
	Name string
	// AccessKeyID and SecretAccessKey are its credentials.
	AccessKeyID, SecretAccessKey string
	// ARN is the caller as AWS reports it in errors: for a Lambda function the role
	// session arn:aws:sts::<account>:assumed-role/<role>/<function>.
	ARN string
	// Account is the principal's account, for aws:PrincipalAccount.
	Account string
	// RoleARN is the IAM role, for aws:PrincipalArn; ARN when empty.
	RoleARN string
	// Policies are its identity policies.
	Policies []iam.Policy
	// Admin principals are allowed everything (tests, seeding, the demo's CI pushes).
	Admin bool
}

// Decision is one recorded authorization decision.
type Decision struct {
	// Principal is the caller's name ("" for an unknown access key).
	Principal string
	// Operation is the API operation called ("DescribeImages").
	Operation string
	// Action and Resource are what was evaluated.
	Action, Resource string
	// Result is the evaluation; an admin's requests are allowed with Policy "admin".
	Result iam.Decision
}

// String renders the decision for test output: "onpush ecr:DescribeImages on
// arn:aws:ecr:…:repository/x: implicit deny".
func (d Decision) String() string {
	who := d.Principal
	if who == "" {
		who = "(unknown access key)"
	}
	return fmt.Sprintf("%s %s on %s: %s", who, d.Action, d.Resource, d.Result)
}

// Authorizer maps access keys to principals, decides requests and records each
// decision. It is safe for concurrent use.
type Authorizer struct {
	mu        sync.Mutex
	byKey     map[string]Principal
	decisions []Decision
}

// New returns an authorizer for principals.
func New(principals ...Principal) *Authorizer {
	a := &Authorizer{byKey: map[string]Principal{}}
	for _, p := range principals {
		a.byKey[p.AccessKeyID] = p
	}
	return a
}

// Principal returns the principal of an access key id.
func (a *Authorizer) Principal(accessKeyID string) (Principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.byKey[accessKeyID]
	return p, ok
}

// Decide evaluates one request of the principal with accessKeyID and records the
// decision. ok is false when the key is unknown (the decision is then an implicit deny).
func (a *Authorizer) Decide(accessKeyID, operation string, req iam.Request) (d Decision, p Principal, ok bool) {
	p, ok = a.Principal(accessKeyID)
	d = Decision{Principal: p.Name, Operation: operation, Action: req.Action, Resource: req.Resource}
	switch {
	case !ok:
	case p.Admin:
		d.Result = iam.Decision{Effect: iam.Allowed, Policy: "admin"}
	default:
		ctx := map[string][]string{"aws:PrincipalArn": {p.roleARN()}, "aws:PrincipalAccount": {p.Account}, "aws:SecureTransport": {"true"}}
		for k, v := range req.Context {
			ctx[k] = v
		}
		req.Context = ctx
		d.Result = iam.Evaluate(req, p.Policies...)
	}
	a.mu.Lock()
	a.decisions = append(a.decisions, d)
	a.mu.Unlock()
	return d, p, ok
}

func (p Principal) roleARN() string {
	if p.RoleARN != "" {
		return p.RoleARN
	}
	return p.ARN
}

// Decisions returns every decision so far, in order.
func (a *Authorizer) Decisions() []Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Decision(nil), a.decisions...)
}

// Denials returns the decisions that denied a request.
func (a *Authorizer) Denials() []Decision {
	var out []Decision
	for _, d := range a.Decisions() {
		if !d.Result.Allowed() {
			out = append(out, d)
		}
	}
	return out
}

// Reset forgets the recorded decisions.
func (a *Authorizer) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.decisions = nil
}

// Denial is a refused request, with what the emulator needs to answer it.
type Denial struct {
	Decision
	// Caller is the principal's ARN as AWS names it in the message.
	Caller string
	// Unrecognized is set when the access key is unknown: AWS answers with an invalid
	// security token error instead of an authorization error.
	Unrecognized bool
}

// Message is AWS's message for the denial: "User: <caller> is not authorized to perform:
// <action> on resource: <resource> because no identity-based policy allows the <action>
// action" (or "with an explicit deny in an identity-based policy"), or, for an unknown
// key, "The security token included in the request is invalid.".
func (d *Denial) Message() string {
	return d.MessageFor(d.Action)
}

// MessageFor is Message with the action spelled as the service spells it ("SNS:Publish").
func (d *Denial) MessageFor(action string) string {
	if d.Unrecognized {
		return "The security token included in the request is invalid."
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", d.Caller, action, d.Resource)
	if d.Result.Effect == iam.ExplicitDeny {
		return msg + " with an explicit deny in an identity-based policy"
	}
	return msg + " because no identity-based policy allows the " + action + " action"
}

// Code is the error code of the denial in the awsJson and restJson protocols:
// AccessDeniedException, or UnrecognizedClientException for an unknown key.
func (d *Denial) Code() string {
	if d.Unrecognized {
		return "UnrecognizedClientException"
	}
	return "AccessDeniedException"
}

// Error makes a Denial an error (for logs and tests).
func (d *Denial) Error() string { return d.Decision.String() }

// Guard is the authorization step an emulator runs before serving an operation. The
// zero value allows everything.
type Guard struct {
	a atomic.Pointer[Authorizer]
}

// SetAuthorizer turns enforcement on (nil turns it off).
func (g *Guard) SetAuthorizer(a *Authorizer) { g.a.Store(a) }

// Enabled reports whether an authorizer is set.
func (g *Guard) Enabled() bool { return g.a.Load() != nil }

// Check decides each request of the caller of r in order and returns the first denial,
// or nil when every request is allowed (or no authorizer is set).
func (g *Guard) Check(r *http.Request, operation string, reqs ...iam.Request) *Denial {
	a := g.a.Load()
	if a == nil {
		return nil
	}
	key, region := Credential(r)
	for _, req := range reqs {
		if region != "" {
			req.Context = withKey(req.Context, "aws:RequestedRegion", region)
		}
		d, p, ok := a.Decide(key, operation, req)
		if !ok {
			return &Denial{Decision: d, Unrecognized: true}
		}
		if !d.Result.Allowed() {
			return &Denial{Decision: d, Caller: p.ARN}
		}
	}
	return nil
}

func withKey(ctx map[string][]string, k, v string) map[string][]string {
	out := make(map[string][]string, len(ctx)+1)
	for key, val := range ctx {
		out[key] = val
	}
	out[k] = []string{v}
	return out
}

// Credential returns the access key id and region of a SigV4-signed request: from the
// Authorization header's Credential=<key>/<date>/<region>/<service>/aws4_request, or
// from a presigned URL's X-Amz-Credential. Both are empty for an unsigned request.
func Credential(r *http.Request) (accessKeyID, region string) {
	scope := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		_, rest, ok := strings.Cut(h, "Credential=")
		if !ok {
			return "", ""
		}
		scope, _, _ = strings.Cut(rest, ",")
	}
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[0], parts[2]
}

// Service returns the signing name of a SigV4-signed request ("sqs", "ecs").
func Service(r *http.Request) string {
	h := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// ARN builds an ARN in the aws partition: arn:aws:<service>:<region>:<account>:<resource>.
func ARN(service, region, account, resource string) string {
	return "arn:aws:" + service + ":" + region + ":" + account + ":" + resource
}
