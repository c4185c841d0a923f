package ecr

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// apiError is an ECR error response: the __type the SDK's awsJson1_1
// deserializer resolves to a typed error, its message and HTTP status.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func newError(status int, typ, format string, args ...any) *apiError {
	return &apiError{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// invalidParameter is ECR's answer to a request that breaks a constraint of
// the model (length, range, pattern, required member). The message names the
// member, in the "1 validation error detected" form of AWS JSON services.
func invalidParameter(field, constraint string) *apiError {
	return newError(http.StatusBadRequest, "InvalidParameterException",
		"1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

func requiredMember(field string) *apiError {
	return newError(http.StatusBadRequest, "InvalidParameterException",
		"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

func serializationError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "SerializationException", format, args...)
}

func (s *Server) repositoryNotFound(name string) *apiError {
	return newError(http.StatusBadRequest, "RepositoryNotFoundException",
		"The repository with name '%s' does not exist in the registry with id '%s'", name, s.account)
}

func (s *Server) imageNotFound(repo string, id imageID) *apiError {
	return newError(http.StatusBadRequest, "ImageNotFoundException",
		"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
		formatID(id), repo, s.account)
}

// formatID renders an image id as ECR's messages do:
// {imageDigest:'sha256:…', imageTag:'null'}.
func formatID(id imageID) string {
	d, t := "null", "null"
	if id.ImageDigest != nil {
		d = *id.ImageDigest
	}
	if id.ImageTag != nil {
		t = *id.ImageTag
	}
	return "{imageDigest:'" + d + "', imageTag:'" + t + "'}"
}

// writeFault writes the throttling or server error an injected fault asks
// for, in ECR's shape.
func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		writeError(w, newError(status, "ThrottlingException", "Rate exceeded"))
		return
	}
	writeError(w, newError(status, "ServerException", "Internal service error (injected fault)"))
}

// writeError answers e with the x-amzn-RequestId header every ECR response
// carries.
func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.typ, e.msg})
	emulator.AWSJSON11.Write(w, e.status, body)
}
