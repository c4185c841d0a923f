package cfn

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Stack is a template deployed on paper: the stack name, account and region, and the
// physical names and attributes of its resources.
type Stack struct {
	// Template is the deployed template.
	Template *Template
	// Name is the stack name; Account and Region where it is deployed.
	Name, Account, Region string

	refs  map[string]string
	attrs map[string]map[string]string
}

// NewStack deploys t as name in account and region.
func NewStack(t *Template, name, account, region string) *Stack {
	return &Stack{Template: t, Name: name, Account: account, Region: region,
		refs: map[string]string{}, attrs: map[string]map[string]string{}}
}

// nameProperty is the property that sets a resource type's physical name.
var nameProperty = map[string]string{
	"AWS::SNS::Topic":             "TopicName",
	"AWS::SQS::Queue":             "QueueName",
	"AWS::Events::EventBus":       "Name",
	"AWS::Events::Rule":           "Name",
	"AWS::DynamoDB::Table":        "TableName",
	"AWS::IAM::Role":              "RoleName",
	"AWS::IAM::Policy":            "PolicyName",
	"AWS::IAM::ManagedPolicy":     "ManagedPolicyName",
	"AWS::Lambda::Function":       "FunctionName",
	"AWS::Logs::LogGroup":         "LogGroupName",
	"AWS::ECR::Repository":        "RepositoryName",
	"AWS::Scheduler::Schedule":    "Name",
	"AWS::CloudWatch::Alarm":      "AlarmName",
	"AWS::SecretsManager::Secret": "Name",
}

// nameLimit is the longest physical name CloudFormation generates for a type.
var nameLimit = map[string]int{
	"AWS::IAM::Role": 64, "AWS::Lambda::Function": 64, "AWS::SQS::Queue": 80, "AWS::Events::Rule": 64,
	"AWS::Scheduler::Schedule": 64, "AWS::IAM::Policy": 128, "AWS::IAM::ManagedPolicy": 128,
}

// SetRef fixes what Ref of a resource answers (a queue URL the emulator returned).
func (s *Stack) SetRef(id, v string) { s.refs[id] = v }

// SetAtt fixes what Fn::GetAtt of a resource's attribute answers.
func (s *Stack) SetAtt(id, attr, v string) {
	if s.attrs[id] == nil {
		s.attrs[id] = map[string]string{}
	}
	s.attrs[id][attr] = v
}

// PhysicalName is the resource's name: the one its properties set, else one generated
// as CloudFormation does, <stack>-<LogicalId>-<12 characters> (shortened to the type's
// limit; lower case for repositories), deterministic for a stack and logical id.
func (s *Stack) PhysicalName(id string) (string, error) {
	r, ok := s.Template.Resources[id]
	if !ok {
		return "", fmt.Errorf("no resource %s in the template", id)
	}
	if prop := nameProperty[r.Type]; prop != "" {
		if v, ok := r.Properties[prop]; ok {
			return s.String(v)
		}
	}
	sum := sha256.Sum256([]byte(s.Name + "/" + id))
	suffix := base32.StdEncoding.EncodeToString(sum[:])[:12]
	name := s.Name + "-" + id
	if limit := nameLimit[r.Type]; limit > 0 && len(name)+13 > limit {
		name = name[:limit-13]
	}
	name += "-" + suffix
	if r.Type == "AWS::ECR::Repository" {
		name = strings.ToLower(name)
	}
	return name, nil
}

// Ref answers {"Ref": id} for a resource, a parameter or a pseudo parameter.
func (s *Stack) Ref(id string) (string, error) {
	switch id {
	case "AWS::AccountId":
		return s.Account, nil
	case "AWS::Region":
		return s.Region, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return s.Name, nil
	case "AWS::StackId":
		return s.arn("cloudformation", "stack/"+s.Name+"/"+s.uuid("stack")), nil
	}
	if v, ok := s.refs[id]; ok {
		return v, nil
	}
	if p, ok := s.Template.Parameters[id]; ok {
		if d, ok := p["Default"]; ok {
			return fmt.Sprint(d), nil
		}
		return "", fmt.Errorf("Ref %s: parameter without a default", id)
	}
	r, ok := s.Template.Resources[id]
	if !ok {
		return "", fmt.Errorf("Ref %s: no such resource or parameter", id)
	}
	name, err := s.PhysicalName(id)
	if err != nil {
		return "", err
	}
	switch r.Type {
	case "AWS::SNS::Topic":
		return s.arn("sns", name), nil
	case "AWS::SQS::Queue":
		return "https://sqs." + s.Region + ".amazonaws.com/" + s.Account + "/" + name, nil
	case "AWS::KMS::Key":
		return s.uuid(id), nil
	}
	return name, nil
}

// GetAtt answers {"Fn::GetAtt": [id, attr]}.
func (s *Stack) GetAtt(id, attr string) (string, error) {
	if v, ok := s.attrs[id][attr]; ok {
		return v, nil
	}
	r, ok := s.Template.Resources[id]
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	name, err := s.PhysicalName(id)
	if err != nil {
		return "", err
	}
	v, ok := "", false
	switch r.Type + "." + attr {
	case "AWS::SNS::Topic.TopicArn":
		v, ok = s.arn("sns", name), true
	case "AWS::SNS::Topic.TopicName", "AWS::SQS::Queue.QueueName", "AWS::Events::EventBus.Name":
		v, ok = name, true
	case "AWS::SQS::Queue.Arn":
		v, ok = s.arn("sqs", name), true
	case "AWS::SQS::Queue.QueueUrl":
		v, err = s.Ref(id)
		ok = err == nil
	case "AWS::Events::EventBus.Arn":
		v, ok = s.arn("events", "event-bus/"+name), true
	case "AWS::Events::Rule.Arn":
		bus, _ := r.Properties["EventBusName"]
		prefix := "rule/"
		if bus != nil {
			b, err := s.String(bus)
			if err != nil {
				return "", err
			}
			if b != "default" {
				prefix += b[strings.LastIndex(b, "/")+1:] + "/"
			}
		}
		v, ok = s.arn("events", prefix+name), true
	case "AWS::DynamoDB::Table.Arn":
		v, ok = s.arn("dynamodb", "table/"+name), true
	case "AWS::KMS::Key.Arn":
		v, ok = s.arn("kms", "key/"+s.uuid(id)), true
	case "AWS::KMS::Key.KeyId":
		v, ok = s.uuid(id), true
	case "AWS::IAM::Role.Arn":
		path := "/"
		if p, has := r.Properties["Path"]; has {
			if path, err = s.String(p); err != nil {
				return "", err
			}
		}
		v, ok = "arn:aws:iam::"+s.Account+":role"+path+name, true
	case "AWS::IAM::Role.RoleId":
		v, ok = "AROA"+strings.ToUpper(s.uuid(id)[:17]), true
	case "AWS::Lambda::Function.Arn":
		v, ok = s.arn("lambda", "function:"+name), true
	case "AWS::Logs::LogGroup.Arn":
		v, ok = s.arn("logs", "log-group:"+name+":*"), true
	case "AWS::ECR::Repository.Arn":
		v, ok = s.arn("ecr", "repository/"+name), true
	case "AWS::ECR::Repository.RepositoryUri":
		v, ok = s.Account+".dkr.ecr."+s.Region+".amazonaws.com/"+name, true
	case "AWS::Scheduler::Schedule.Arn":
		v, ok = s.arn("scheduler", "schedule/default/"+name), true
	case "AWS::CloudWatch::Alarm.Arn":
		v, ok = s.arn("cloudwatch", "alarm:"+name), true
	case "AWS::SecretsManager::Secret.Id":
		v, ok = s.arn("secretsmanager", "secret:"+name+"-"+s.uuid(id)[:6]), true
	}
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: attribute %s of %s is not known here", id, attr, attr, r.Type)
	}
	return v, nil
}

func (s *Stack) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + s.Region + ":" + s.Account + ":" + resource
}

// uuid is a deterministic UUID (version 4 layout) for the stack and seed.
func (s *Stack) uuid(seed string) string {
	b := sha256.Sum256([]byte(s.Name + "#" + seed))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// noValue is what AWS::NoValue resolves to: the property is removed.
type noValue struct{}

// Resolve returns v with every intrinsic function and pseudo parameter resolved.
// Properties set to AWS::NoValue are removed from maps and lists.
func (s *Stack) Resolve(v any) (any, error) {
	out, err := s.resolve(v)
	if _, ok := out.(noValue); ok {
		return nil, err
	}
	return out, err
}

// String resolves v and requires a string (numbers and booleans are formatted).
func (s *Stack) String(v any) (string, error) {
	r, err := s.Resolve(v)
	if err != nil {
		return "", err
	}
	switch r := r.(type) {
	case string:
		return r, nil
	case float64:
		return strconv.FormatFloat(r, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(r), nil
	}
	return "", fmt.Errorf("want a string, got %v", r)
}

func (s *Stack) resolve(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			r, err := s.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, ok := r.(noValue); !ok {
				out = append(out, r)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return s.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := s.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, ok := r.(noValue); !ok {
				out[k] = r
			}
		}
		return out, nil
	}
	return v, nil
}

func (s *Stack) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		id, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("Ref: want a name, got %v", arg)
		}
		if id == "AWS::NoValue" {
			return noValue{}, nil
		}
		return s.Ref(id)
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case []any:
			if len(a) == 2 {
				id, _ = a[0].(string)
				r, err := s.String(a[1])
				if err != nil {
					return nil, fmt.Errorf("Fn::GetAtt: %w", err)
				}
				attr = r
			}
		case string:
			id, attr, _ = strings.Cut(a, ".")
		}
		if id == "" || attr == "" {
			return nil, fmt.Errorf("Fn::GetAtt: want [id, attribute], got %v", arg)
		}
		return s.GetAtt(id, attr)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Join: want [delimiter, list], got %v", arg)
		}
		delim, _ := a[0].(string)
		list, err := s.list(a[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		parts := make([]string, len(list))
		for i, e := range list {
			if parts[i], err = s.String(e); err != nil {
				return nil, fmt.Errorf("Fn::Join: %w", err)
			}
		}
		return strings.Join(parts, delim), nil
	case "Fn::Sub":
		return s.sub(arg)
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Select: want [index, list], got %v", arg)
		}
		is, err := s.String(a[0])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		i, err := strconv.Atoi(is)
		list, lerr := s.list(a[1])
		if err != nil || lerr != nil || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select: index %s out of %v", is, a[1])
		}
		return s.resolve(list[i])
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, fmt.Errorf("Fn::Split: want [delimiter, string], got %v", arg)
		}
		delim, _ := a[0].(string)
		str, err := s.String(a[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Split: %w", err)
		}
		var out []any
		for _, p := range strings.Split(str, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Base64":
		str, err := s.String(arg)
		if err != nil {
			return nil, fmt.Errorf("Fn::Base64: %w", err)
		}
		return base64.StdEncoding.EncodeToString([]byte(str)), nil
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else], got %v", arg)
		}
		name, _ := a[0].(string)
		c, err := s.condition(name)
		if err != nil {
			return nil, err
		}
		if c {
			return s.resolve(a[1])
		}
		return s.resolve(a[2])
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		return s.conditionFn(fn, arg)
	}
	return nil, fmt.Errorf("%s is not supported", fn)
}

func (s *Stack) list(v any) ([]any, error) {
	r, err := s.resolve(v)
	if err != nil {
		return nil, err
	}
	l, ok := r.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %v", r)
	}
	return l, nil
}

// sub resolves Fn::Sub: "…${Name}…${Res.Attr}…", or [string, {var: value}].
func (s *Stack) sub(arg any) (any, error) {
	str, vars := "", map[string]any{}
	switch a := arg.(type) {
	case string:
		str = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables], got %v", arg)
		}
		str, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		vars = m
	default:
		return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables], got %v", arg)
	}
	var b strings.Builder
	for {
		i := strings.Index(str, "${")
		if i < 0 {
			b.WriteString(str)
			return b.String(), nil
		}
		b.WriteString(str[:i])
		if strings.HasPrefix(str[i:], "${!") { // ${!Literal} writes ${Literal}
			b.WriteString("${")
			str = str[i+3:]
			continue
		}
		j := strings.IndexByte(str[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("Fn::Sub: unterminated ${ in %q", str)
		}
		name := str[i+2 : i+j]
		str = str[i+j+1:]
		var val string
		var err error
		if v, ok := vars[name]; ok {
			val, err = s.String(v)
		} else if id, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			val, err = s.GetAtt(id, attr)
		} else {
			val, err = s.Ref(name)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub: %w", err)
		}
		b.WriteString(val)
	}
}

func (s *Stack) condition(name string) (bool, error) {
	c, ok := s.Template.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not in the template", name)
	}
	r, err := s.resolve(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := r.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s: want a boolean, got %v", name, r)
	}
	return b, nil
}

func (s *Stack) conditionFn(fn string, arg any) (any, error) {
	if fn == "Condition" {
		name, _ := arg.(string)
		return s.condition(name)
	}
	a, ok := arg.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %v", fn, arg)
	}
	vals := make([]any, len(a))
	for i, e := range a {
		r, err := s.resolve(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		vals[i] = r
	}
	switch fn {
	case "Fn::Equals":
		if len(vals) != 2 {
			return nil, fmt.Errorf("Fn::Equals: want two values, got %v", arg)
		}
		return reflect.DeepEqual(vals[0], vals[1]), nil
	case "Fn::Not":
		b, ok := vals[0].(bool)
		if len(vals) != 1 || !ok {
			return nil, fmt.Errorf("Fn::Not: want one condition, got %v", arg)
		}
		return !b, nil
	}
	and := fn == "Fn::And"
	for _, v := range vals {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: want conditions, got %v", fn, v)
		}
		if b != and {
			return b, nil
		}
	}
	return and, nil
}

// Deployed reports whether a resource is created: it has no Condition, or its
// condition holds.
func (s *Stack) Deployed(id string) (bool, error) {
	r, ok := s.Template.Resources[id]
	if !ok {
		return false, fmt.Errorf("no resource %s in the template", id)
	}
	if r.Condition == "" {
		return true, nil
	}
	return s.condition(r.Condition)
}
