package emulator

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// RequestID returns a random UUID (version 4), the shape of the request ids
// AWS services return.
func RequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// JSONProtocol writes the responses of an awsJson protocol (1.0 or 1.1,
// named by its content type).
type JSONProtocol string

// AWSJSON11 is the awsJson1_1 protocol.
const AWSJSON11 JSONProtocol = "application/x-amz-json-1.1"

// Write sends body with the protocol's content type and a request id.
func (p JSONProtocol) Write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", string(p))
	w.Header().Set("X-Amzn-Requestid", RequestID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error sends an error in the protocol's shape: {"__type", "message"}.
func (p JSONProtocol) Error(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	p.Write(w, status, b)
}

// ReadOperation reads an awsJson request body of at most maxBody bytes and
// the operation its X-Amz-Target names after prefix ("AWSEvents.",
// "secretsmanager."). A request that cannot be served is answered here
// (SerializationException, or UnknownOperationException recorded in log)
// and ok is false.
func (p JSONProtocol) ReadOperation(w http.ResponseWriter, r *http.Request, prefix string, maxBody int, log *fault.Log) (op string, body []byte, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(maxBody)+1))
	if err != nil || len(body) > maxBody {
		p.Error(w, http.StatusRequestEntityTooLarge, "SerializationException", "request body too large or unreadable")
		return "", nil, false
	}
	target := r.Header.Get("X-Amz-Target")
	op, found := strings.CutPrefix(target, prefix)
	if !found {
		log.Record(target, body)
		p.Error(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("unknown X-Amz-Target %q", target))
		return "", nil, false
	}
	return op, body, true
}
