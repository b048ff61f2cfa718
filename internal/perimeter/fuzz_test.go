package perimeter

import "testing"

func FuzzLoadPerimeter(f *testing.F) {
	f.Add([]byte(testFile))
	f.Add([]byte(""))
	f.Add([]byte("networks: [{cidr: '::/0'}]\nexternal: [{cidr: 0.0.0.0/0, flags: [cdn]}]"))
	f.Add([]byte("domains: ['xn--bcher-kva.example.']"))
	f.Add([]byte("assets: [{name: a, addresses: ['::ffff:1.2.3.4'], hostnames: [A.B.]}]"))
	f.Add([]byte("networks: &a [{cidr: 10.0.0.0/8}]\nprotected: *a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		for _, target := range []string{"10.0.0.1", "::", "::ffff:0.0.0.0/96", "0.0.0.0/0", "a.example", "x:y"} {
			m := p.Lookup(target)
			if m.InPerimeter && m.Owner == OwnerUnknown {
				t.Errorf("Lookup(%q): in perimeter with owner unknown", target)
			}
		}
	})
}
