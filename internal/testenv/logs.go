package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// logSyncMarker starts the lines the Runtime API server writes into a
// function's own output pipe to know when the lines before it were copied.
const logSyncMarker = "\x00testenv-logs-sync:"

// logSyncTimeout bounds how long an invocation's report waits for its logs.
const logSyncTimeout = 5 * time.Second

// outputPipe carries a runtime process's stdout and stderr, in the order it
// wrote them, to the function's log writer, as Lambda sends both to one log
// stream. The server keeps the write end too: a marker line it writes after
// an invocation comes out of the pipe after everything the process wrote
// before, so the invocation's REPORT line, and the caller of Invoke, come
// after its logs (as in CloudWatch Logs, where REPORT ends an invocation).
type outputPipe struct {
	w       *os.File // the process's stdout and stderr, and the markers
	marks   chan string
	done    chan struct{} // closed when everything was copied (EOF)
	counter atomic.Uint64
}

// newOutputPipe starts copying the pipe's lines to logs.
func newOutputPipe(logs io.Writer) (*outputPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	o := &outputPipe{w: w, marks: make(chan string, 16), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			if bytes.HasPrefix(line, []byte(logSyncMarker)) {
				select {
				case o.marks <- string(line):
				default: // nobody waits for it any more
				}
			} else if len(line) > 0 {
				logs.Write(line)
			}
			if err != nil {
				return
			}
		}
	}()
	return o, nil
}

// sync returns once everything written to the pipe before the call has
// been copied, the pipe is closed, or the timeout passed.
func (o *outputPipe) sync() {
	mark := fmt.Sprintf("%s%d\n", logSyncMarker, o.counter.Add(1))
	if _, err := io.WriteString(o.w, mark); err != nil {
		<-o.done // closed: the copier drains what is left and ends
		return
	}
	timeout := time.NewTimer(logSyncTimeout)
	defer timeout.Stop()
	for {
		select {
		case m := <-o.marks:
			if m == mark {
				return
			}
		case <-o.done:
			return
		case <-timeout.C:
			return
		}
	}
}

// close closes the server's write end once the process has exited, and
// waits for the rest of its output to be copied.
func (o *outputPipe) close() {
	o.w.Close()
	<-o.done
}
