package dynamodb

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// value is one decoded DynamoDB AttributeValue; exactly one member is set.
type value struct {
	S    *string                    `json:"S"`
	N    *string                    `json:"N"`
	B    *string                    `json:"B"`
	BOOL *bool                      `json:"BOOL"`
	NULL *bool                      `json:"NULL"`
	M    map[string]json.RawMessage `json:"M"`
	L    []json.RawMessage          `json:"L"`
	SS   []string                   `json:"SS"`
	NS   []string                   `json:"NS"`
	BS   []string                   `json:"BS"`
}

// maxDepth is DynamoDB's nesting limit for documents: "DynamoDB supports
// nested attributes up to 32 levels deep"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
const maxDepth = 32

// typeOf returns the single data type of v, or an error like DynamoDB's.
func (v *value) typeOf() (string, *apiError) {
	var set []string
	if v.S != nil {
		set = append(set, "S")
	}
	if v.N != nil {
		set = append(set, "N")
	}
	if v.B != nil {
		set = append(set, "B")
	}
	if v.BOOL != nil {
		set = append(set, "BOOL")
	}
	if v.NULL != nil {
		set = append(set, "NULL")
	}
	if v.M != nil {
		set = append(set, "M")
	}
	if v.L != nil {
		set = append(set, "L")
	}
	if v.SS != nil {
		set = append(set, "SS")
	}
	if v.NS != nil {
		set = append(set, "NS")
	}
	if v.BS != nil {
		set = append(set, "BS")
	}
	switch len(set) {
	case 0:
		return "", validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	case 1:
		return set[0], nil
	default:
		return "", validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
}

// parseValue decodes and validates the AttributeValue raw found at path.
func parseValue(raw json.RawMessage, path string, depth int) (*value, string, *apiError) {
	if depth > maxDepth {
		return nil, "", validation("Nesting Levels have exceeded supported limits: %s", path)
	}
	var v value
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, "", &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: fmt.Sprintf("cannot deserialize attribute value %s: %v", path, err)}
	}
	typ, err := v.typeOf()
	if err != nil {
		err.msg += ": " + path
		return nil, "", err
	}
	switch typ {
	case "N":
		if _, err := canonicalNumber(*v.N); err != nil {
			return nil, "", validation("A value provided cannot be converted into a number: %s", path)
		}
	case "B":
		if _, err := base64.StdEncoding.DecodeString(*v.B); err != nil {
			return nil, "", validation("cannot deserialize binary value %s: invalid base64", path)
		}
	case "NULL":
		if !*v.NULL {
			return nil, "", validation("One or more parameter values were invalid: Null attribute value types must have the value of true: %s", path)
		}
	case "M":
		for k, e := range v.M {
			if _, _, err := parseValue(e, path+"."+k, depth+1); err != nil {
				return nil, "", err
			}
		}
	case "L":
		for i, e := range v.L {
			if _, _, err := parseValue(e, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return nil, "", err
			}
		}
	case "SS", "NS", "BS":
		members := v.SS
		if typ == "NS" {
			members = v.NS
		} else if typ == "BS" {
			members = v.BS
		}
		if len(members) == 0 {
			return nil, "", validation("One or more parameter values were invalid: An %s set may not be empty: %s", typ, path)
		}
		seen := map[string]bool{}
		for _, m := range members {
			key := m
			if typ == "NS" {
				c, err := canonicalNumber(m)
				if err != nil {
					return nil, "", validation("A value provided cannot be converted into a number: %s", path)
				}
				key = c
			}
			if typ == "BS" {
				if _, err := base64.StdEncoding.DecodeString(m); err != nil {
					return nil, "", validation("cannot deserialize binary value %s: invalid base64", path)
				}
			}
			if seen[key] {
				return nil, "", validation("One or more parameter values were invalid: Input collection contains duplicates: %s", path)
			}
			seen[key] = true
		}
	}
	return &v, typ, nil
}

// canonicalNumber returns the canonical form of a DynamoDB number, so that
// "1", "1.0" and "10E-1" compare equal. DynamoDB numbers have up to 38
// digits of precision.
func canonicalNumber(s string) (string, error) {
	s = strings.TrimSpace(s)
	m := numberRE.FindStringSubmatch(s)
	if m == nil || len(s) > 100 {
		return "", fmt.Errorf("invalid number %q", s)
	}
	// Positive numbers range from 1E-130 to 9.9999999999999999999999999999999999999E+125
	// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html);
	// a bounded exponent also keeps big.Rat from allocating without limit.
	if m[1] != "" {
		if e, err := strconv.Atoi(m[1]); err != nil || e > 200 || e < -200 {
			return "", fmt.Errorf("number %q out of range", s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", fmt.Errorf("invalid number %q", s)
	}
	return r.RatString(), nil
}

var numberRE = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,4}))?$`)
