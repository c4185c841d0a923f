package status

import (
	"fmt"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
	"github.com/ecrwarden/ecrwarden/internal/rollout"
)

// Change is ecrwarden's last change of a workload, as status shows it
// (rollout.Change, with what is unknown left out of the JSON).
type Change struct {
	EventID string    `json:"eventId,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Cause is what made the change: push, scan-released, reconcile, rollback, release.
	Cause string `json:"cause,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// Verification is the verification of the last change, as status shows it
// (rollout.Verification).
type Verification struct {
	// State is pending, verified, failed, rolled-back or abandoned.
	State string `json:"state"`
	// Since is when verification started; At when it was last armed or decided.
	Since         time.Time `json:"since,omitzero"`
	At            time.Time `json:"at,omitzero"`
	Digest        string    `json:"digest,omitempty"`
	Reasons       []string  `json:"reasons,omitempty"`
	PreviousImage string    `json:"previousImage,omitempty"`
}

// workloadState is what the annotations of a workload say of its last
// change and verification.
type workloadState struct {
	change *Change
	verify *Verification
}

// readState reads the verifier's state with rollout.ReadState. A workload
// ecrwarden changed before it recorded changes shows what the engine's own
// annotations tell (event id, tag, change cause; no time). A state the
// verifier does not know is an error, as a value that does not parse is.
func readState(d *kube.Workload) (workloadState, error) {
	ann := d.Annotations()
	st, err := rollout.ReadState(ann)
	if err != nil {
		return workloadState{}, err
	}
	var out workloadState
	if c := st.LastChange; c != nil {
		out.change = &Change{EventID: c.EventID, Time: c.Time, Cause: c.Cause, From: c.From, To: c.To}
	}
	if v := st.Verify; v != nil {
		out.verify = &Verification{State: v.State, Since: v.Since, At: v.At, Digest: v.Digest, Reasons: v.Reasons, PreviousImage: v.PreviousImage}
	}
	if out.change == nil {
		if id := ann[kube.AnnotationEventID]; id != "" {
			out.change = &Change{EventID: id, Cause: ann[kube.AnnotationChangeCause], From: ann[kube.AnnotationPreviousImage], To: ann[kube.AnnotationTag]}
		}
	}
	if v := out.verify; v != nil {
		switch v.State {
		case rollout.VerifyPending, rollout.VerifyVerified, rollout.VerifyFailed, rollout.VerifyRolledBack, rollout.VerifyAbandoned:
		default:
			return workloadState{}, fmt.Errorf("annotation %s: unknown state %q", rollout.AnnotationVerify, v.State)
		}
	}
	return out, nil
}
