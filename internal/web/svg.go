package web

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// The pictures are inline SVG built here, server-side, with no chart
// library and no script. Every text that reaches the SVG goes through
// esc; the templates insert the result with the svg function.

func esc(s string) string { return html.EscapeString(s) }

// hoursSVG draws events per hour over the last 24 hours as bars.
func hoursSVG(st eventStats, lang string) string {
	const w, h, left, bottom, top = 720, 180, 36, 28, 12
	maxN := 1
	for _, n := range st.Hours {
		maxN = max(maxN, n)
	}
	var b strings.Builder
	title := translate(lang, "chart.hours.title", st.Total)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="hours-t hours-d" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="hours-t">%s</title><desc id="hours-d">`, esc(title))
	for i, n := range st.Hours {
		if n > 0 {
			fmt.Fprintf(&b, "%s: %d. ", st.Start.Add(time.Duration(i)*time.Hour).In(incident.Rome).Format("15:04"), n)
		}
	}
	b.WriteString(`</desc>`)
	plotH := float64(h - bottom - top)
	barW := float64(w-left-8) / 24
	// Axis and gridlines at 0, half and max.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(top) + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, left, y, w-8, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="axis" text-anchor="end">%d</text>`, left-4, y+4, int(f*float64(maxN)+0.5))
	}
	for i, n := range st.Hours {
		bh := plotH * float64(n) / float64(maxN)
		x := float64(left) + float64(i)*barW
		at := st.Start.Add(time.Duration(i) * time.Hour).In(incident.Rome)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %d</title></rect>`,
			x+1, float64(top)+plotH-bh, barW-2, bh, esc(at.Format("15:04")), n)
		if i%3 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, x+barW/2, h-8, at.Format("15h"))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// sourcesSVG draws the top sources as horizontal bars.
func sourcesSVG(src []sourceCount, lang string) string {
	if len(src) == 0 {
		return ""
	}
	const w, row, left = 720, 26, 200
	h := row*len(src) + 8
	maxN := 1
	for _, s := range src {
		maxN = max(maxN, s.Count)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="src-t" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="src-t">%s</title>`, esc(translate(lang, "chart.sources.title")))
	for i, s := range src {
		y := 4 + i*row
		bw := float64(w-left-60) * float64(s.Count) / float64(maxN)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="label" text-anchor="end">%s</text>`, left-8, y+17, esc(s.Source))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" class="bar"/>`, left, y+4, max(bw, 1), row-8)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="value">%d</text>`, float64(left)+max(bw, 1)+6, y+17, s.Count)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// kindClass groups timeline kinds into a few colours.
func kindClass(kind string) string {
	switch {
	case strings.HasPrefix(kind, "action."), kind == "decision":
		return "k-action"
	case strings.HasPrefix(kind, "evidence."), strings.HasPrefix(kind, "ransom.message"):
		return "k-evidence"
	case strings.HasPrefix(kind, "clock."), strings.HasPrefix(kind, "ransom."):
		return "k-clock"
	case kind == eventKind, strings.HasPrefix(kind, "incident.event"):
		return "k-event"
	}
	return "k-case"
}

// timelineSVG draws an incident's timeline along a time axis: one mark
// per item, coloured by kind, in lanes so that marks close in time do not
// overlap; each mark has a tooltip and links to its log entry.
func timelineSVG(items []incident.TimelineItem, lang string) string {
	if len(items) == 0 {
		return ""
	}
	const w, left, right, laneH, top = 960, 16, 16, 16, 30
	first, last := items[0].Time, items[0].Time
	for _, it := range items {
		if it.Time.Before(first) {
			first = it.Time
		}
		if it.Time.After(last) {
			last = it.Time
		}
	}
	span := last.Sub(first)
	if span <= 0 {
		span = time.Minute
	}
	x := func(t time.Time) float64 {
		return left + float64(w-left-right)*float64(t.Sub(first))/float64(span)
	}
	// Lanes: an item goes to the first lane whose last mark is at least
	// 14 px to its left.
	var lanes []float64
	type mark struct {
		x    float64
		lane int
		it   incident.TimelineItem
	}
	marks := make([]mark, 0, len(items))
	for _, it := range items {
		px := x(it.Time)
		lane := -1
		for i, lx := range lanes {
			if px-lx >= 14 {
				lane = i
				break
			}
		}
		if lane < 0 {
			if len(lanes) >= 8 {
				lane = len(marks) % 8
			} else {
				lanes = append(lanes, 0)
				lane = len(lanes) - 1
			}
		}
		lanes[lane] = px
		marks = append(marks, mark{px, lane, it})
	}
	h := top + laneH*len(lanes) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart timeline" viewBox="0 0 %d %d" role="img" aria-labelledby="tl-t" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="tl-t">%s</title>`, esc(translate(lang, "chart.timeline.title", len(items))))
	layout := "02/01 15:04"
	switch {
	case span <= 2*time.Hour:
		layout = "15:04:05"
	case span > 10*24*time.Hour:
		layout = "02/01"
	}
	axisY := h - 22
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axisline"/>`, left, axisY, w-right, axisY)
	for i := 0; i <= 4; i++ {
		t := first.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == 4 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="%s">%s</text>`, x(t), h-6, anchor, esc(t.In(incident.Rome).Format(layout)))
	}
	for _, m := range marks {
		y := top + m.lane*laneH
		fmt.Fprintf(&b, `<a href="/evidence-log/%d"><circle cx="%.1f" cy="%d" r="6" class="mark %s"><title>%s · %s · %s</title></circle></a>`,
			m.it.Index, m.x, y, kindClass(m.it.Kind), esc(m.it.Time.In(incident.Rome).Format("02/01 15:04:05")), esc(m.it.Kind), esc(m.it.Summary))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
