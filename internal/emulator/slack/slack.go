package slack

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// Block Kit limits, from https://api.slack.com/reference/block-kit/blocks
// and the pages of each block type.
const (
	maxBlocks         = 50   // "You can include up to 50 blocks in each message"
	maxBlockID        = 255  // block_id "Maximum length for this field is 255 characters"
	maxTextObject     = 3000 // text object text: "maximum length ... 3000 characters"
	maxSectionText    = 3000 // section text: "Maximum length for the text in this field is 3000 characters"
	maxSectionFields  = 10   // section fields: "Maximum number of items is 10"
	maxFieldText      = 2000 // section fields: "Maximum length for the text in each item is 2000 characters"
	maxHeaderText     = 150  // header text: "Maximum length for the text in this field is 150 characters"
	maxContextElems   = 10   // context elements: "Maximum number of items is 10"
	maxActionsElems   = 25   // actions elements: "There is a maximum of 25 elements in each action block"
	maxImageURL       = 3000 // image image_url: "Maximum length for this field is 3000 characters"
	maxImageAltText   = 2000 // image alt_text: "Maximum length for this field is 2000 characters"
	maxBodyBytes      = 1 << 20
	defaultRetryAfter = 1
)

// Op is the operation name the sink uses in its fault rules and call log.
const Op = "PostMessage"

var hookPathRE = regexp.MustCompile(`^/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+$`)

// Payload is one accepted webhook message.
type Payload struct {
	// Path is the webhook path (/services/T…/B…/…).
	Path string
	// Text is the top-level text (the notification fallback).
	Text string
	// Blocks is the raw blocks array, nil if absent.
	Blocks json.RawMessage
	// Body is the raw request body.
	Body []byte
}

// Rejection is one payload the sink refused, with the reason.
type Rejection struct {
	// Status is the HTTP status answered.
	Status int
	// Code is the Slack error code answered (invalid_blocks, no_text, …).
	Code string
	// Reason says what was wrong, naming the field.
	Reason string
	// Body is the raw request body.
	Body []byte
}

// Server is the Slack incoming-webhook sink, an [http.Handler]. It is safe
// for concurrent use.
type Server struct {
	faults *fault.Injector
	log    *fault.Log
	gate   fault.Gate

	mu         sync.Mutex
	payloads   []Payload
	rejections []Rejection
	retryAfter int

	ca *authority
	emulator.Listener
}

// New returns a sink; seed seeds its fault injector.
func New(seed uint64) *Server {
	s := &Server{faults: fault.New(seed), log: &fault.Log{}, retryAfter: defaultRetryAfter}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: s.writeFault}
	return s
}

// Faults returns the fault injector; the operation name is [Op].
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// SetRetryAfter sets the Retry-After seconds sent with throttled answers.
func (s *Server) SetRetryAfter(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = seconds
}

// Payloads returns the accepted payloads in arrival order.
func (s *Server) Payloads() []Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Payload(nil), s.payloads...)
}

// Rejections returns the refused payloads in arrival order.
func (s *Server) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejections...)
}

// Reset forgets accepted and refused payloads and the call log.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payloads, s.rejections = nil, nil
	s.log.Reset()
}

// WebhookURL returns a webhook URL on a started sink.
func (s *Server) WebhookURL() string {
	return s.URL() + "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
}

// Start serves s over TLS on addr ("127.0.0.1:0" picks a free port), with
// a certificate for the loopback names signed by the sink's own CA (see
// CAPEM and Client), and returns the https base URL. URL and Close come
// with the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) {
	ca, err := newAuthority()
	if err != nil {
		return "", err
	}
	s.ca = ca
	return s.Listener.ServeTLS(addr, s, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.cert}})
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *Server) writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		s.mu.Lock()
		ra := s.retryAfter
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(ra))
		writeText(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	writeText(w, status, "internal_error")
}

func (s *Server) reject(w http.ResponseWriter, status int, code, reason string, body []byte) {
	s.mu.Lock()
	s.rejections = append(s.rejections, Rejection{Status: status, Code: code, Reason: reason, Body: body})
	s.mu.Unlock()
	writeText(w, status, code)
}

// ServeHTTP serves one webhook post.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeText(w, http.StatusRequestEntityTooLarge, "request_too_large")
		return
	}
	if !s.gate.Admit(w, r, Op, body) {
		return
	}
	if r.Method != http.MethodPost {
		writeText(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	if !hookPathRE.MatchString(r.URL.Path) {
		s.reject(w, http.StatusNotFound, "no_service", "unknown webhook path "+r.URL.Path, body)
		return
	}
	var msg struct {
		Text   *string         `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		s.reject(w, http.StatusBadRequest, "invalid_payload", "payload is not a JSON object: "+err.Error(), body)
		return
	}
	hasBlocks := len(msg.Blocks) > 0 && !bytes.Equal(bytes.TrimSpace(msg.Blocks), []byte("null"))
	if (msg.Text == nil || *msg.Text == "") && !hasBlocks {
		s.reject(w, http.StatusBadRequest, "no_text", "payload has neither text nor blocks", body)
		return
	}
	if hasBlocks {
		if reason := validateBlocks(msg.Blocks); reason != "" {
			s.reject(w, http.StatusBadRequest, "invalid_blocks", reason, body)
			return
		}
	}
	p := Payload{Path: r.URL.Path, Blocks: msg.Blocks, Body: body}
	if msg.Text != nil {
		p.Text = *msg.Text
	}
	s.mu.Lock()
	s.payloads = append(s.payloads, p)
	s.mu.Unlock()
	writeText(w, http.StatusOK, "ok")
}

type textObject struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

type block struct {
	Type     string            `json:"type"`
	BlockID  *string           `json:"block_id"`
	Text     *textObject       `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
	ImageURL *string           `json:"image_url"`
	AltText  *string           `json:"alt_text"`
}

// validateBlocks returns why blocks break a Block Kit limit, or "".
func validateBlocks(raw json.RawMessage) string {
	var blocks []json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "blocks: must be an array of block objects"
	}
	if len(blocks) > maxBlocks {
		return fmt.Sprintf("blocks: %d blocks, no more than %d items allowed", len(blocks), maxBlocks)
	}
	ids := map[string]bool{}
	for i, rb := range blocks {
		var b block
		if err := json.Unmarshal(rb, &b); err != nil {
			return fmt.Sprintf("blocks[%d]: %v", i, err)
		}
		p := fmt.Sprintf("blocks[%d]", i)
		if b.BlockID != nil {
			if n := utf8.RuneCountInString(*b.BlockID); n == 0 || n > maxBlockID {
				return fmt.Sprintf("%s.block_id: must be 1-%d characters", p, maxBlockID)
			}
			if ids[*b.BlockID] {
				return fmt.Sprintf("%s.block_id: duplicate block_id %q", p, *b.BlockID)
			}
			ids[*b.BlockID] = true
		}
		if reason := validateBlock(p, &b); reason != "" {
			return reason
		}
	}
	return ""
}

func validateBlock(p string, b *block) string {
	switch b.Type {
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return p + ": a section needs text or fields"
		}
		if b.Text != nil {
			if r := checkText(p+".text", b.Text, maxSectionText, false); r != "" {
				return r
			}
		}
		if len(b.Fields) > maxSectionFields {
			return fmt.Sprintf("%s.fields: %d items, no more than %d allowed", p, len(b.Fields), maxSectionFields)
		}
		for j := range b.Fields {
			if r := checkText(fmt.Sprintf("%s.fields[%d]", p, j), &b.Fields[j], maxFieldText, false); r != "" {
				return r
			}
		}
	case "header":
		if b.Text == nil {
			return p + ".text: required"
		}
		return checkText(p+".text", b.Text, maxHeaderText, true)
	case "context":
		if len(b.Elements) == 0 || len(b.Elements) > maxContextElems {
			return fmt.Sprintf("%s.elements: %d items, must be 1-%d", p, len(b.Elements), maxContextElems)
		}
		for j, e := range b.Elements {
			var el struct {
				textObject
				ImageURL *string `json:"image_url"`
				AltText  *string `json:"alt_text"`
			}
			if err := json.Unmarshal(e, &el); err != nil {
				return fmt.Sprintf("%s.elements[%d]: %v", p, j, err)
			}
			ep := fmt.Sprintf("%s.elements[%d]", p, j)
			switch el.Type {
			case "plain_text", "mrkdwn":
				if r := checkText(ep, &el.textObject, maxTextObject, false); r != "" {
					return r
				}
			case "image":
				if el.ImageURL == nil || el.AltText == nil {
					return ep + ": an image element needs image_url and alt_text"
				}
			default:
				return fmt.Sprintf("%s.type: %q is not a valid context element", ep, el.Type)
			}
		}
	case "actions":
		if len(b.Elements) == 0 || len(b.Elements) > maxActionsElems {
			return fmt.Sprintf("%s.elements: %d items, must be 1-%d", p, len(b.Elements), maxActionsElems)
		}
	case "image":
		if b.ImageURL == nil || *b.ImageURL == "" || utf8.RuneCountInString(*b.ImageURL) > maxImageURL {
			return fmt.Sprintf("%s.image_url: required, at most %d characters", p, maxImageURL)
		}
		if b.AltText == nil || *b.AltText == "" || utf8.RuneCountInString(*b.AltText) > maxImageAltText {
			return fmt.Sprintf("%s.alt_text: required, at most %d characters", p, maxImageAltText)
		}
	case "divider", "rich_text", "markdown":
	case "":
		return p + ".type: required"
	default:
		return fmt.Sprintf("%s.type: unknown block type %q", p, b.Type)
	}
	return ""
}

// checkText validates a text object of at most max characters.
func checkText(p string, t *textObject, max int, plainOnly bool) string {
	switch {
	case t.Type != "plain_text" && t.Type != "mrkdwn":
		return fmt.Sprintf("%s.type: must be plain_text or mrkdwn, got %q", p, t.Type)
	case plainOnly && t.Type != "plain_text":
		return p + ".type: must be plain_text"
	case t.Text == nil || *t.Text == "":
		return p + ".text: must be at least 1 character"
	case utf8.RuneCountInString(*t.Text) > max:
		return fmt.Sprintf("%s.text: %d characters, must be at most %d", p, utf8.RuneCountInString(*t.Text), max)
	}
	return ""
}
