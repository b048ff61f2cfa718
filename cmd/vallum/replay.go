package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/config"
	"github.com/vallum/vallum/internal/sensor/sshpot"
)

func runReplay(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "replay", "replay [--speed N | --instant] [--data DIR] [--raw] SESSION\n\n"+
		"SESSION is a session ID (as in the events) or the path of a transcript (.cast).")
	speed := fs.Float64("speed", 1, "playback speed: 2 plays twice as fast")
	instant := fs.Bool("instant", false, "print the whole session at once, without its pauses")
	data := fs.String("data", "", "data directory to find the session in (default "+config.Default().Data+")")
	maxWait := fs.Duration("max-wait", 0, "longest pause to keep, e.g. 2s (default: as recorded)")
	raw := fs.Bool("raw", false, "write the recorded output unfiltered, terminal control sequences included (the attacker chose some of them)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2}
	}
	if *speed <= 0 {
		return withHint(errors.New("--speed must be more than 0"), "use --instant to print without pauses")
	}
	dir := *data
	if dir == "" {
		dir = config.Default().Data
	}
	path, err := findTranscript(dir, fs.Arg(0))
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("couldn't open transcript: %w", err)
	}
	defer f.Close()
	opts := replayOptions{speed: *speed, instant: *instant, maxWait: *maxWait, raw: *raw}
	return replayCast(ctx, f, env.stdout, opts, sleepCtx)
}

var sessionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// findTranscript resolves SESSION: a path to a file, or a session ID
// looked up as transcripts/ID.cast under the data directory (the SSH
// honeypot's state directory is somewhere below it).
func findTranscript(dir, session string) (string, error) {
	if strings.ContainsRune(session, os.PathSeparator) || strings.HasSuffix(session, ".cast") {
		if _, err := os.Stat(session); err != nil {
			return "", fmt.Errorf("couldn't open transcript: %w", err)
		}
		return session, nil
	}
	if !sessionID.MatchString(session) {
		return "", withHint(fmt.Errorf("%q is neither a session ID nor a transcript file", session), "session IDs look like ssh-0123abcd…; give a path to replay a .cast file")
	}
	name := filepath.Join(sshpot.TranscriptDir, session+".cast")
	var found string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if d.IsDir() && strings.Count(strings.TrimPrefix(p, dir), string(os.PathSeparator)) > 4 {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, string(os.PathSeparator)+name) {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", withHint(fmt.Errorf("couldn't read data directory: %w", err), "give the server's data directory with --data")
	}
	if found == "" {
		return "", withHint(fmt.Errorf("no transcript of session %s under %s", session, dir), "give the server's data directory with --data, or the .cast file's path")
	}
	return found, nil
}

type replayOptions struct {
	speed   float64
	instant bool
	maxWait time.Duration
	raw     bool
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxCastLine bounds one line of a transcript.
const maxCastLine = 4 << 20

// replayCast writes the output events of an asciicast v2 transcript to w
// with their recorded pauses (scaled by speed, capped at maxWait).
func replayCast(ctx context.Context, r io.Reader, w io.Writer, o replayOptions, sleep func(context.Context, time.Duration) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxCastLine)
	if !sc.Scan() {
		return errors.New("transcript is empty")
	}
	var hdr struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Version != 2 {
		return withHint(errors.New("not an asciicast v2 transcript"), "vallum replay plays the .cast files the SSH honeypot writes")
	}
	var filter termFilter
	last := 0.0
	for line := 2; sc.Scan(); line++ {
		var ev []json.RawMessage
		var t float64
		var kind, data string
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 ||
			json.Unmarshal(ev[0], &t) != nil || json.Unmarshal(ev[1], &kind) != nil || json.Unmarshal(ev[2], &data) != nil {
			return fmt.Errorf("transcript line %d is not an event", line)
		}
		if kind != "o" {
			continue
		}
		if !o.instant && t > last {
			d := time.Duration((t - last) / o.speed * float64(time.Second))
			if o.maxWait > 0 {
				d = min(d, o.maxWait)
			}
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
		last = max(last, t)
		out := data
		if !o.raw {
			out = filter.clean(data)
		}
		if _, err := io.WriteString(w, out); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("couldn't read transcript: %w", err)
	}
	return ctx.Err()
}

// termFilter removes from recorded output what a terminal could be made
// to do beyond drawing text: operating system commands (window titles,
// clipboard writes), device control strings, status requests whose
// answers the terminal would type back, and any escape sequence other
// than colours, cursor movement and erasing. Sequences may be split
// across events; the filter keeps its state between calls.
type termFilter struct {
	state int // 0 text, 1 after ESC, 2 in CSI, 3 in a string (OSC, DCS, …), 4 ESC inside a string
	csi   []byte
}

func (f *termFilter) clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch f.state {
		case 1:
			switch r {
			case '[':
				f.state, f.csi = 2, f.csi[:0]
			case ']', 'P', 'X', '^', '_':
				f.state = 3
			default:
				f.state = 0
			}
			continue
		case 2:
			if r >= 0x40 && r <= 0x7e {
				f.state = 0
				if strings.ContainsRune("mABCDEFGHJKf", r) && len(f.csi) <= 32 {
					b.WriteString("\x1b[")
					b.Write(f.csi)
					b.WriteRune(r)
				}
				continue
			}
			if r >= 0x30 && r <= 0x3f && len(f.csi) <= 32 {
				f.csi = append(f.csi, byte(r))
			} else if r < 0x20 || r > 0x3f {
				f.state = 0
			}
			continue
		case 3:
			switch r {
			case 0x07:
				f.state = 0
			case 0x1b:
				f.state = 4
			}
			continue
		case 4:
			f.state = 0
			if r != '\\' {
				f.state = 3
			}
			continue
		}
		switch {
		case r == 0x1b:
			f.state = 1
		case r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\a':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			// other controls, C1 controls: dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
