// Package ecrevent classifies and decodes the EventBridge events that Amazon ECR and
// Amazon Inspector send about container images, builds such events for the emulators,
// and defines the EventBridge event patterns the CDK stack declares.
//
// Every decoder dispatches on the envelope's source and detail-type first
// (Classify): any ECR or Inspector payload unmarshals without error into any event
// struct, so the kind is never inferred from the fields alone. The samples in
// testdata/events are the documented shapes; each one round-trips through the Go
// type that decodes it.
//
// aws-lambda-go's events.ECRImageActionEvent decodes "ECR Image Action" events. The
// scan and Inspector2 types are ours, for the reasons given on ScanEvent and
// FindingEvent.
package ecrevent
