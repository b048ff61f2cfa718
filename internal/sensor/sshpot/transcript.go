package sshpot

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// transcript records a session's terminal in asciicast v2 (one JSON
// header line, then one [time, kind, data] line per event: "o" output,
// "i" input, "r" resize). It buffers a little in memory, reserved from
// the shared budget, and appends to its file by opening it only to
// write, so that ten thousand idle sessions hold no file descriptors.
// It is safe for concurrent use.
type transcript struct {
	mu        sync.Mutex
	path      string
	start     time.Time
	max       int64
	budget    *sensor.Budget
	buf       []byte
	reserved  int64
	size      int64 // bytes written and buffered
	h         hash.Hash
	truncated bool
	err       error
}

// transcriptFlushAt is the buffer size at which a transcript is written.
const transcriptFlushAt = 4 << 10

func newTranscript(path string, start time.Time, width, height int, term string, max int64, budget *sensor.Budget) *transcript {
	t := &transcript{path: path, start: start, max: max, budget: budget, h: sha256.New()}
	header := struct {
		Version   int               `json:"version"`
		Width     int               `json:"width"`
		Height    int               `json:"height"`
		Timestamp int64             `json:"timestamp"`
		Env       map[string]string `json:"env"`
	}{2, width, height, start.Unix(), map[string]string{"SHELL": "/bin/bash", "TERM": term}}
	b, _ := json.Marshal(header)
	t.add(append(b, '\n'))
	return t
}

// event records data of kind ("o", "i" or "r") now.
func (t *transcript) event(kind string, data string) {
	if t == nil || data == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated || t.err != nil {
		return
	}
	secs := time.Since(t.start).Seconds()
	line := make([]byte, 0, len(data)+32)
	line = append(line, '[')
	line = strconv.AppendFloat(line, secs, 'f', 6, 64)
	line = append(line, `, "`...)
	line = append(line, kind...)
	line = append(line, `", `...)
	d, _ := json.Marshal(data)
	line = append(line, d...)
	line = append(line, "]\n"...)
	t.add(line)
}

// add buffers line, or writes through when the budget is spent. The
// caller holds mu (or is the constructor).
func (t *transcript) add(line []byte) {
	if t.size+int64(len(line)) > t.max {
		t.truncated = true
		return
	}
	t.size += int64(len(line))
	if !t.budget.Reserve(int64(len(line))) {
		t.flushLocked()
		t.write(line)
		return
	}
	t.reserved += int64(len(line))
	t.buf = append(t.buf, line...)
	if len(t.buf) >= transcriptFlushAt {
		t.flushLocked()
	}
}

// flush writes what is buffered.
func (t *transcript) flush() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
}

func (t *transcript) flushLocked() {
	if len(t.buf) > 0 {
		t.write(t.buf)
	}
	t.budget.Release(t.reserved)
	t.reserved = 0
	// An idle session keeps no buffer.
	t.buf = nil
}

func (t *transcript) write(b []byte) {
	if t.err != nil {
		return
	}
	f, err := os.OpenFile(t.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.err = err
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.err = err
		return
	}
	t.h.Write(b)
}

// close writes the rest, syncs the file and returns its reference.
func (t *transcript) close() (sensor.PayloadRef, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
	if t.err != nil {
		return sensor.PayloadRef{}, t.err
	}
	f, err := os.OpenFile(t.path, os.O_WRONLY, 0)
	if err != nil {
		return sensor.PayloadRef{}, err
	}
	err = f.Sync()
	f.Close()
	return sensor.PayloadRef{
		SHA256:    hex.EncodeToString(t.h.Sum(nil)),
		Size:      t.size, // what was kept: nothing past max was added
		Truncated: t.truncated,
	}, err
}
