package rollout

import (
	"encoding/json"
	"fmt"
	"time"
)

// The state ecrwarden keeps on a workload it rolls (read by `ecrwarden
// status` through ReadState). Both are plain JSON so that kubectl users can
// read them too.
const (
	// AnnotationLastChange records ecrwarden's last change of the image:
	// {"eventId","time","cause","from","to"} (Change). It is written in the
	// same patch as the image.
	AnnotationLastChange = "ecrwarden.io/last-change"
	// AnnotationVerify records the verification of that change:
	// {"state","since","at","digest","reasons","previousImage"}
	// (Verification). The patch that sets the image sets it pending; the
	// verifier updates it, each update guarded by the resourceVersion read.
	AnnotationVerify = "ecrwarden.io/verify"
)

// Causes of a change (Change.Cause).
const (
	CausePush         = "push"
	CauseScanReleased = "scan-released"
	CauseReconcile    = "reconcile"
	CauseRollback     = "rollback"
	CauseRelease      = "release"
)

// States of a verification (Verification.State).
const (
	// VerifyPending: the rollout is being followed; a check is scheduled.
	VerifyPending = "pending"
	// VerifyVerified: every updated replica became available.
	VerifyVerified = "verified"
	// VerifyFailed: the rollout failed and was not rolled back (onFailure
	// alert, or the rollback was refused: see Reasons).
	VerifyFailed = "failed"
	// VerifyRolledBack: the rollout failed and the previous image is back.
	VerifyRolledBack = "rolled-back"
	// VerifyAbandoned: the rollout can no longer be told (its image was
	// changed by other hands, the workload was paused or scaled to zero
	// until the timeout): nothing is done, Reasons says why.
	VerifyAbandoned = "abandoned"
)

// Change is ecrwarden's last change of a workload's image.
type Change struct {
	// EventID names the event (or reconcile run, or rollback) that caused it.
	EventID string    `json:"eventId"`
	Time    time.Time `json:"time"`
	// Cause is one of the Cause constants.
	Cause string `json:"cause"`
	// From and To are the container's images before and after, as full
	// references (with the digest when pinned by digest).
	From string `json:"from"`
	To   string `json:"to"`
}

// Verification is the verification of the last change.
type Verification struct {
	// State is one of the Verify constants.
	State string `json:"state"`
	// Since is when the change was made; the timeout counts from it.
	Since time.Time `json:"since"`
	// At is when the verification was last armed or decided; a check names
	// it, so that a duplicate or stale check finds it moved and stops.
	At time.Time `json:"at"`
	// Digest is the digest rolled out.
	Digest string `json:"digest"`
	// Reasons say why it failed or was abandoned (the Pods' reasons).
	Reasons []string `json:"reasons"`
	// PreviousImage is the image a rollback restores.
	PreviousImage string `json:"previousImage"`
}

// State is what ecrwarden recorded on a workload.
type State struct {
	// LastChange is nil when ecrwarden never changed the workload (or
	// changed it before it recorded changes).
	LastChange *Change
	// Verify is nil when no change was ever verified.
	Verify *Verification
}

// ReadState reads AnnotationLastChange and AnnotationVerify from a
// workload's annotations. A value that does not parse is an error naming
// the annotation (fail closed: the verifier stops rather than guess).
func ReadState(annotations map[string]string) (State, error) {
	var s State
	if v := annotations[AnnotationLastChange]; v != "" {
		s.LastChange = &Change{}
		if err := json.Unmarshal([]byte(v), s.LastChange); err != nil {
			return State{}, fmt.Errorf("annotation %s does not parse (fix or remove it): %w", AnnotationLastChange, err)
		}
	}
	if v := annotations[AnnotationVerify]; v != "" {
		s.Verify = &Verification{}
		if err := json.Unmarshal([]byte(v), s.Verify); err != nil {
			return State{}, fmt.Errorf("annotation %s does not parse (fix or remove it): %w", AnnotationVerify, err)
		}
	}
	return s, nil
}

// encodeJSON is the annotation value of v.
func encodeJSON(key string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	return string(b), nil
}

// stateAnnotations returns the annotations of a change and its pending
// verification.
func stateAnnotations(c Change, v Verification) (map[string]string, error) {
	lc, err := encodeJSON(AnnotationLastChange, c)
	if err != nil {
		return nil, err
	}
	vs, err := encodeJSON(AnnotationVerify, v)
	if err != nil {
		return nil, err
	}
	return map[string]string{AnnotationLastChange: lc, AnnotationVerify: vs}, nil
}
