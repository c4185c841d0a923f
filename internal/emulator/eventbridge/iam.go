package eventbridge

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/iam"
)

// SetAuthorizer turns IAM enforcement on (nil turns it off): PutEvents needs
// events:PutEvents on the bus of every entry (its ARN, from a name or an ARN; the
// default bus when none), with the condition keys events:source and events:detail-type
// of the entry; one denied entry refuses the whole call with AccessDeniedException.
func (s *Server) SetAuthorizer(a *authz.Authorizer) { s.guard.SetAuthorizer(a) }

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, op string, body []byte) bool {
	if !s.guard.Enabled() {
		return true
	}
	var in putEventsInput
	_ = json.Unmarshal(body, &in) // a malformed body is the operation's to refuse
	var reqs []iam.Request
	for _, e := range in.Entries {
		bus := e.EventBusName
		if bus == "" {
			bus = DefaultBus
		}
		arn := bus
		if !strings.HasPrefix(bus, "arn:") {
			arn = s.busARN(bus)
		}
		ctx := map[string][]string{}
		if e.Source != nil {
			ctx["events:source"] = []string{*e.Source}
		}
		if e.DetailType != nil {
			ctx["events:detail-type"] = []string{*e.DetailType}
		}
		reqs = append(reqs, iam.Request{Action: "events:" + op, Resource: arn, Context: ctx})
	}
	if len(reqs) == 0 {
		reqs = append(reqs, iam.Request{Action: "events:" + op, Resource: s.busARN(DefaultBus)})
	}
	if d := s.guard.Check(r, op, reqs...); d != nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, d.Code(), d.Message())
		return false
	}
	return true
}
