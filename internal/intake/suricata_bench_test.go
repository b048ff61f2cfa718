package intake

import "testing"

// BenchmarkParseEVE measures the EVE front end per line, without the
// pipeline: ParseEVE and the ID, as Tail.parse derives them. "corpus" cycles
// through the real-shaped records of testdata/eve-corpus.ndjson (300 to
// 800 bytes, every type; its edge cases are left out), "alert" is the
// short alert of the intake benchmark. Read ns/op as ns per line.
func BenchmarkParseEVE(b *testing.B) {
	corpus := readLines(b, "eve-corpus.ndjson")[:9]
	var alerts [][]byte
	for i := range 1000 {
		alerts = append(alerts, []byte(eveLine(i)))
	}
	for _, bc := range []struct {
		name  string
		lines [][]byte
	}{{"corpus", corpus}, {"alert", alerts}} {
		b.Run(bc.name, func(b *testing.B) {
			size := 0
			for _, l := range bc.lines {
				size += len(l)
			}
			b.SetBytes(int64(size / len(bc.lines)))
			b.ReportAllocs()
			ids := lineIDs{prefix: "/var/log/suricata/eve.json:2049:1234567:"}
			for i := 0; b.Loop(); i++ {
				line := bc.lines[i%len(bc.lines)]
				e, err := ParseEVE(line, nil, "ids")
				if err != nil {
					continue
				}
				e.ID = ids.id(int64(i)*500, line)
			}
		})
	}
}
