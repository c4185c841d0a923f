package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/cfn"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/ecr"
	"github.com/ecrwarden/ecrwarden/internal/emulator/suite"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// taskRoot is where Lambda unpacks a function's asset; the template's environment
// names files there (ECRWARDEN_POLICY=/var/task/ecrwarden.yaml).
const taskRoot = "/var/task/"

// bundledPolicy is the policy's name in each function's asset (infra/bundle.go).
const bundledPolicy = "ecrwarden.yaml"

// deployedFunction is one function of the template as the sandbox runs it.
type deployedFunction struct {
	// name is the suite's name ("onpush"); id and physical the template's logical id
	// and the function name CloudFormation would give it.
	name, id, physical string
	// roleID, roleName and roleARN are its execution role's.
	roleID, roleName, roleARN string
	policies                  []iam.Policy
	// env is the template's environment, resolved.
	env      map[string]string
	timeout  time.Duration
	memoryMB int
	// key and secret are the credentials of its role session.
	key, secret string
	// kubeUser and kubeGroups come from its EKS access entries.
	kubeUser   string
	kubeGroups []string
	// retries and onFailure are its asynchronous invocation configuration
	// (AWS::Lambda::EventInvokeConfig): retries before the failure destination, a queue.
	retries   int
	onFailure string
}

// principal is the function's caller identity for the authorizer.
func (f *deployedFunction) principal(account string) authz.Principal {
	return authz.Principal{Name: f.name, AccessKeyID: f.key, SecretAccessKey: f.secret, Account: account,
		ARN: "arn:aws:sts::" + account + ":assumed-role/" + f.roleName + "/" + f.physical, RoleARN: f.roleARN, Policies: f.policies}
}

// rule is an EventBridge rule of the template that targets a function.
type rule struct {
	id, bus, function string
	pattern           map[string]any
}

// eventSource is an SQS event source mapping of the template.
type eventSource struct {
	queueID, function string
	batchSize         int
}

// deployment is what the sandbox reads from the template before it starts anything.
type deployment struct {
	stack     *cfn.Stack
	functions map[string]*deployedFunction
	rules     []rule
	sources   []eventSource
	topics    []string          // names
	topicKeys map[string]string // topic name → KMS key ARN
	buses     []string          // names
	tables    []suite.Table     // dedupe table…
	queues    []string          // logical ids, dead-letter queues first
	repos     map[string]ecr.RepositoryOptions
}

// readDeployment deploys the template on paper as stackName in account and region and
// finds the functions by their construct paths, their roles, policies, environment,
// access entries, rules and event sources, and the resources the sandbox must create.
func readDeployment(t *cfn.Template, stackName, account, region string) (*deployment, error) {
	s := cfn.NewStack(t, stackName, account, region)
	d := &deployment{stack: s, functions: map[string]*deployedFunction{}, topicKeys: map[string]string{}, repos: map[string]ecr.RepositoryOptions{}}
	var errs []error
	for _, name := range Functions {
		f, err := d.function(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", name, err))
			continue
		}
		d.functions[name] = f
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, step := range []func() error{d.accessEntries, d.routes, d.resources} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *deployment) props(id string) map[string]any {
	return d.stack.Template.Resources[id].Properties
}

// function reads one function: found by a construct path segment equal to its name.
func (d *deployment) function(name string) (*deployedFunction, error) {
	s := d.stack
	id, err := s.Template.FindByPath("AWS::Lambda::Function", name)
	if err != nil {
		return nil, err
	}
	f := &deployedFunction{name: name, id: id, env: map[string]string{}, timeout: 3 * time.Second, memoryMB: 128, retries: 2}
	if f.physical, err = s.PhysicalName(id); err != nil {
		return nil, err
	}
	p := d.props(id)
	f.roleID = cfn.RefTo(p["Role"])
	if f.roleID == "" {
		return nil, fmt.Errorf("role %v is not a role of the template", p["Role"])
	}
	if f.roleName, err = s.PhysicalName(f.roleID); err != nil {
		return nil, err
	}
	if f.roleARN, err = s.GetAtt(f.roleID, "Arn"); err != nil {
		return nil, err
	}
	if v, ok := p["Timeout"].(float64); ok {
		f.timeout = time.Duration(v) * time.Second
	}
	if v, ok := p["MemorySize"].(float64); ok {
		f.memoryMB = int(v)
	}
	if env, ok := p["Environment"].(map[string]any); ok {
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			if f.env[k], err = s.String(v); err != nil {
				return nil, fmt.Errorf("environment %s: %w", k, err)
			}
		}
	}
	if f.policies, err = d.rolePolicies(f.roleID); err != nil {
		return nil, err
	}
	if f.key, err = randomKey("ASIA", 16); err != nil {
		return nil, err
	}
	if f.secret, err = randomKey("", 40); err != nil {
		return nil, err
	}
	return f, nil
}

// rolePolicies collects the identity policies of a role: AWS::IAM::Policy and
// AWS::IAM::ManagedPolicy resources that list it, and its inline Policies. AWS
// managed policies (ManagedPolicyArns) are not evaluated: they could only add rights,
// so leaving them out denies, never allows, what the template does not spell out.
func (d *deployment) rolePolicies(roleID string) ([]iam.Policy, error) {
	var out []iam.Policy
	add := func(name string, doc any) error {
		resolved, err := d.stack.Resolve(doc)
		if err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
		b, err := json.Marshal(resolved)
		if err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
		pd, err := iam.ParseDocument(b)
		if err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
		out = append(out, iam.Policy{Name: name, Document: pd})
		return nil
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range d.stack.Template.OfType(typ) {
			roles, _ := d.props(id)["Roles"].([]any)
			for _, r := range roles {
				if cfn.RefTo(r) == roleID {
					if err := add(id, d.props(id)["PolicyDocument"]); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	inline, _ := d.props(roleID)["Policies"].([]any)
	for i, p := range inline {
		m, _ := p.(map[string]any)
		if err := add(fmt.Sprintf("%s/Policies[%d]", roleID, i), m["PolicyDocument"]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// accessEntries reads the EKS access entries of the function roles: the Kubernetes
// user and groups a function's token maps to.
func (d *deployment) accessEntries() error {
	byRole := map[string]*deployedFunction{}
	for _, f := range d.functions {
		byRole[f.roleID] = f
	}
	for _, id := range d.stack.Template.OfType("AWS::EKS::AccessEntry") {
		p := d.props(id)
		f := byRole[cfn.RefTo(p["PrincipalArn"])]
		if f == nil {
			continue
		}
		groups, err := d.stack.Resolve(p["KubernetesGroups"])
		if err != nil {
			return fmt.Errorf("access entry %s: %w", id, err)
		}
		gs, _ := groups.([]any)
		if len(gs) == 0 {
			return fmt.Errorf("access entry %s of %s maps the role to no Kubernetes group: the sandbox runs EKS access as RBAC groups (eksAccess=rbac); managed access policies are not emulated", id, f.name)
		}
		f.kubeGroups = nil
		for _, g := range gs {
			f.kubeGroups = append(f.kubeGroups, fmt.Sprint(g))
		}
		// EKS's default user name for a role's access entry.
		f.kubeUser = "arn:aws:sts::" + d.stack.Account + ":assumed-role/" + f.roleName + "/" + f.physical
		if u, ok := p["Username"]; ok {
			if f.kubeUser, err = d.stack.String(u); err != nil {
				return fmt.Errorf("access entry %s: %w", id, err)
			}
			f.kubeUser = strings.ReplaceAll(f.kubeUser, "{{SessionName}}", f.physical)
		}
	}
	return nil
}

// routes reads the EventBridge rules and the SQS event source mappings that invoke the
// functions.
func (d *deployment) routes() error {
	byID := map[string]string{}
	for _, f := range d.functions {
		byID[f.id] = f.name
	}
	s := d.stack
	for _, id := range s.Template.OfType("AWS::Events::Rule") {
		p := d.props(id)
		if state, _ := p["State"].(string); state != "" && state != "ENABLED" {
			continue
		}
		pattern, err := s.Resolve(p["EventPattern"])
		if err != nil {
			return fmt.Errorf("rule %s: %w", id, err)
		}
		pm, ok := pattern.(map[string]any)
		if !ok {
			continue // a scheduled rule
		}
		bus := "default"
		if b, ok := p["EventBusName"]; ok {
			if bus, err = s.String(b); err != nil {
				return fmt.Errorf("rule %s: %w", id, err)
			}
			bus = bus[strings.LastIndex(bus, "/")+1:]
		}
		targets, _ := p["Targets"].([]any)
		for _, t := range targets {
			tm, _ := t.(map[string]any)
			if fn, ok := byID[cfn.RefTo(tm["Arn"])]; ok {
				d.rules = append(d.rules, rule{id: id, bus: bus, function: fn, pattern: pm})
			}
		}
	}
	for _, id := range s.Template.OfType("AWS::Lambda::EventInvokeConfig") {
		p := d.props(id)
		fn, ok := byID[cfn.RefTo(p["FunctionName"])]
		if !ok {
			continue
		}
		f := d.functions[fn]
		if v, ok := p["MaximumRetryAttempts"].(float64); ok {
			f.retries = int(v)
		}
		if dc, ok := p["DestinationConfig"].(map[string]any); ok {
			if of, ok := dc["OnFailure"].(map[string]any); ok {
				if q := cfn.RefTo(of["Destination"]); s.Template.Resources[q].Type == "AWS::SQS::Queue" {
					f.onFailure = q
				}
			}
		}
	}
	for _, id := range s.Template.OfType("AWS::Lambda::EventSourceMapping") {
		p := d.props(id)
		fn, ok := byID[cfn.RefTo(p["FunctionName"])]
		queue := cfn.RefTo(p["EventSourceArn"])
		if !ok || s.Template.Resources[queue].Type != "AWS::SQS::Queue" {
			continue
		}
		batch := 10
		if v, ok := p["BatchSize"].(float64); ok {
			batch = int(v)
		}
		d.sources = append(d.sources, eventSource{queueID: queue, function: fn, batchSize: batch})
	}
	return nil
}

// resources lists what the sandbox creates in the emulators: topics (and their keys),
// buses, tables, queues and the managed repositories.
func (d *deployment) resources() error {
	s := d.stack
	name := func(id string) (string, error) { return s.PhysicalName(id) }
	for _, id := range s.Template.OfType("AWS::SNS::Topic") {
		if ok, err := s.Deployed(id); err != nil || !ok {
			continue
		}
		n, err := name(id)
		if err != nil {
			return err
		}
		d.topics = append(d.topics, n)
		if k, ok := d.props(id)["KmsMasterKeyId"]; ok {
			key, err := s.String(k)
			if err != nil {
				return fmt.Errorf("topic %s: %w", id, err)
			}
			// An AWS managed key (alias/aws/sns) needs no permission of the publisher.
			if strings.HasPrefix(key, "arn:") && strings.Contains(key, ":key/") {
				d.topicKeys[n] = key
			}
		}
	}
	for _, id := range s.Template.OfType("AWS::Events::EventBus") {
		n, err := name(id)
		if err != nil {
			return err
		}
		d.buses = append(d.buses, n)
	}
	for _, id := range s.Template.OfType("AWS::DynamoDB::Table") {
		t, err := d.table(id)
		if err != nil {
			return err
		}
		d.tables = append(d.tables, t)
	}
	var plain, redriven []string
	for _, id := range s.Template.OfType("AWS::SQS::Queue") {
		if _, ok := d.props(id)["RedrivePolicy"]; ok {
			redriven = append(redriven, id)
		} else {
			plain = append(plain, id)
		}
	}
	d.queues = append(plain, redriven...)
	for _, id := range s.Template.OfType("AWS::ECR::Repository") {
		n, err := name(id)
		if err != nil {
			return err
		}
		p, err := s.Resolve(d.props(id))
		if err != nil {
			return fmt.Errorf("repository %s: %w", id, err)
		}
		pm, _ := p.(map[string]any)
		opts := ecr.RepositoryOptions{Mutability: "MUTABLE"}
		if m, ok := pm["ImageTagMutability"].(string); ok {
			opts.Mutability = m
		}
		filters, _ := pm["ImageTagMutabilityExclusionFilters"].([]any)
		for _, f := range filters {
			fm, _ := f.(map[string]any)
			if v, ok := fm["ImageTagMutabilityExclusionFilterValue"].(string); ok {
				opts.MutabilityExclusions = append(opts.MutabilityExclusions, v)
			}
		}
		if sc, ok := pm["ImageScanningConfiguration"].(map[string]any); ok {
			opts.ScanOnPush, _ = sc["ScanOnPush"].(bool)
		}
		d.repos[n] = opts
	}
	return nil
}

func (d *deployment) table(id string) (suite.Table, error) {
	n, err := d.stack.PhysicalName(id)
	if err != nil {
		return suite.Table{}, err
	}
	p, err := d.stack.Resolve(d.props(id))
	if err != nil {
		return suite.Table{}, fmt.Errorf("table %s: %w", id, err)
	}
	pm, _ := p.(map[string]any)
	t := suite.Table{Name: n}
	keys, _ := pm["KeySchema"].([]any)
	for _, k := range keys {
		km, _ := k.(map[string]any)
		if km["KeyType"] == "HASH" {
			t.HashKey, _ = km["AttributeName"].(string)
		}
	}
	attrs, _ := pm["AttributeDefinitions"].([]any)
	for _, a := range attrs {
		am, _ := a.(map[string]any)
		if am["AttributeName"] == t.HashKey {
			t.HashType, _ = am["AttributeType"].(string)
		}
	}
	if ttl, ok := pm["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
		t.TTLAttribute, _ = ttl["AttributeName"].(string)
	}
	if t.HashKey == "" || t.HashType == "" {
		return suite.Table{}, fmt.Errorf("table %s: no hash key in its KeySchema and AttributeDefinitions", id)
	}
	return t, nil
}

// sortedFunctions returns the functions in Functions order.
func (d *deployment) sortedFunctions() []*deployedFunction {
	out := make([]*deployedFunction, 0, len(d.functions))
	for _, n := range Functions {
		out = append(out, d.functions[n])
	}
	return out
}

// keyAlphabet is what AWS access key ids are made of.
const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// randomKey returns prefix followed by n random characters of keyAlphabet.
func randomKey(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	for i := range b {
		b[i] = keyAlphabet[int(b[i])%len(keyAlphabet)]
	}
	return prefix + string(b), nil
}
