package status

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/kube"
)

// Annotations the verification writes (the contract with the rollout
// verifier): the last change ecrwarden made and the state of its
// verification.
const (
	AnnotationLastChange = "ecrwarden.io/last-change"
	AnnotationVerify     = "ecrwarden.io/verify"
)

// Verification states of AnnotationVerify.
const (
	VerifyPending    = "pending"
	VerifyVerified   = "verified"
	VerifyFailed     = "failed"
	VerifyRolledBack = "rolled-back"
	VerifyAbandoned  = "abandoned"
)

// Change is the last change ecrwarden made to a workload.
type Change struct {
	EventID string    `json:"eventId,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Cause is what made the change: push, scan, reconcile, rollback…
	Cause string `json:"cause,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// Verification is the state of the verification of the last rollout.
type Verification struct {
	// State is pending, verified, failed, rolled-back or abandoned.
	State string `json:"state"`
	// Since is when verification started; At when it reached State.
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

// readState parses AnnotationLastChange and AnnotationVerify. Without
// AnnotationLastChange, the last change is what the rollout engine's own
// annotations tell (event id, tag, change cause; no time). It is to be
// replaced by rollout.ReadState once the verifier provides it.
func readState(d *kube.Deployment) (workloadState, error) {
	ann := d.Metadata.Annotations
	var st workloadState
	if v := ann[AnnotationLastChange]; v != "" {
		var c Change
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return st, fmt.Errorf("annotation %s does not parse: %w", AnnotationLastChange, err)
		}
		st.change = &c
	} else if id := ann[kube.AnnotationEventID]; id != "" {
		st.change = &Change{EventID: id, Cause: ann[kube.AnnotationChangeCause], From: ann[kube.AnnotationPreviousImage], To: ann[kube.AnnotationTag]}
	}
	if v := ann[AnnotationVerify]; v != "" {
		var vf Verification
		if err := json.Unmarshal([]byte(v), &vf); err != nil {
			return st, fmt.Errorf("annotation %s does not parse: %w", AnnotationVerify, err)
		}
		switch vf.State {
		case VerifyPending, VerifyVerified, VerifyFailed, VerifyRolledBack, VerifyAbandoned:
		default:
			return st, fmt.Errorf("annotation %s: unknown state %q", AnnotationVerify, vf.State)
		}
		st.verify = &vf
	}
	return st, nil
}
