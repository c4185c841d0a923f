package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// specExample is the valid document of the specification's section
// "Embedded metric format example and JSON schema" (CloudWatch User Guide,
// "Specification: Embedded metric format").
const specExample = `{
  "_aws": {
    "Timestamp": 1574109732004,
    "CloudWatchMetrics": [
      {
        "Namespace": "lambda-function-metrics",
        "Dimensions": [["functionVersion"]],
        "Metrics": [
          {
            "Name": "time",
            "Unit": "Milliseconds"
          }
        ]
      }
    ]
  },
  "functionVersion": "$LATEST",
  "time": 100,
  "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
}`

func TestParseSpecExample(t *testing.T) {
	got, err := Parse([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	want := []Datum{{
		Namespace: "lambda-function-metrics", Name: "time", Unit: Milliseconds,
		Dims: []Dim{{"functionVersion", "$LATEST"}}, Values: []float64{100},
		Timestamp: time.UnixMilli(1574109732004).UTC(),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("datums (-want +got):\n%s", diff)
	}
}

// doc builds a document from the spec's member snippets: metadata members
// and root members as raw JSON.
func doc(directive string, root string) string {
	if root != "" {
		root = "," + root
	}
	return `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[` + directive + `]}` + root + `}`
}

func TestParseSpecRules(t *testing.T) {
	keys := func(n int) string {
		var ks, members []string
		for i := range n {
			ks = append(ks, fmt.Sprintf(`"d%d"`, i))
			members = append(members, fmt.Sprintf(`"d%d":"v"`, i))
		}
		return `{"Namespace":"n","Dimensions":[[` + strings.Join(ks, ",") + `]],"Metrics":[{"Name":"m"}]}|` + strings.Join(members, ",") + `,"m":1`
	}
	defs := func(n int) string {
		var ds, members []string
		for i := range n {
			ds = append(ds, fmt.Sprintf(`{"Name":"m%d"}`, i))
			members = append(members, fmt.Sprintf(`"m%d":%d`, i, i))
		}
		return `{"Namespace":"n","Dimensions":[[]],"Metrics":[` + strings.Join(ds, ",") + `]}|` + strings.Join(members, ",")
	}
	values := func(n int) string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = "1"
		}
		return `"m":[` + strings.Join(vs, ",") + `]`
	}
	split := func(s string) (string, string) { d, r, _ := strings.Cut(s, "|"); return d, r }
	simple := `{"Namespace":"n","Dimensions":[["Service"]],"Metrics":[{"Name":"m","Unit":"Count"}]}`
	tests := []struct {
		name    string
		event   string
		wantErr string // empty: valid
		want    int    // datums when valid
	}{
		{name: "nine dimension keys", event: doc(split(keys(9))), want: 1},
		{name: "ten dimension keys", event: doc(split(keys(10))), wantErr: "10 keys, at most 9"},
		{name: "100 metric definitions", event: doc(split(defs(100))), want: 100},
		{name: "101 metric definitions", event: doc(split(defs(101))), wantErr: "101 definitions, at most 100"},
		{name: "100 values", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}`, values(100)), want: 1},
		{name: "101 values", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}`, values(101)), wantErr: "101 values"},
		{name: "an empty dimension set", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}`, `"m":1`), want: 1},
		{name: "two dimension sets give two datums", event: doc(`{"Namespace":"n","Dimensions":[["Service"],[]],"Metrics":[{"Name":"m"}]}`, `"Service":"s","m":1`), want: 2},
		{name: "a target named A.a on the root", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"A.a"}]}`, `"A.a":1`), want: 1},
		{name: "a nested target does not count", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"A.a"}]}`, `"A":{"a":1}`), wantErr: `no member "A.a"`},
		{name: "dimension target missing", event: doc(simple, `"m":1`), wantErr: `no string member "Service"`},
		{name: "dimension target not a string", event: doc(simple, `"Service":3,"m":1`), wantErr: `no string member "Service"`},
		{name: "metric target missing", event: doc(simple, `"Service":"s"`), wantErr: `no member "m"`},
		{name: "metric target a string", event: doc(simple, `"Service":"s","m":"1"`), wantErr: "want a number or an array"},
		{name: "metric array holds a string", event: doc(simple, `"Service":"s","m":[1,"2"]`), wantErr: "not a number"},
		{name: "unknown unit", event: doc(`{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m","Unit":"Furlongs"}]}`, `"m":1`), wantErr: "not a CloudWatch unit"},
		{name: "empty namespace", event: doc(`{"Namespace":"","Dimensions":[[]],"Metrics":[{"Name":"m"}]}`, `"m":1`), wantErr: "Namespace"},
		{name: "no dimension set", event: doc(`{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}`, `"m":1`), wantErr: "at least one DimensionSet"},
		{name: "no _aws", event: `{"m":1}`, wantErr: "no _aws"},
		{name: "no timestamp", event: `{"_aws":{"CloudWatchMetrics":[]}}`, wantErr: "Timestamp"},
		{name: "fractional timestamp", event: `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[]}}`, wantErr: "whole number"},
		{name: "no directives array", event: `{"_aws":{"Timestamp":1}}`, wantErr: "CloudWatchMetrics"},
		{name: "data after the object", event: doc(simple, `"Service":"s","m":1`) + ` trailing`, wantErr: "data after"},
		{name: "not JSON", event: `START RequestId: 1`, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.event))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(got) != tt.want {
					t.Errorf("got %d datums, want %d: %+v", len(got), tt.want, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte(doc(`{"Namespace":"n","Dimensions":[["a"]],"Metrics":[{"Name":"m"}]}`, `"a":"x","m":[1,2]`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := Parse(b)
		if err != nil {
			return
		}
		for _, d := range data {
			if len(d.Dims) > MaxDimensions || len(d.Values) == 0 || len(d.Values) > MaxValues {
				t.Fatalf("Parse accepted %+v from %q", d, b)
			}
		}
	})
}
