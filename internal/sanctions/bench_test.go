package sanctions

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

const benchEntries = 20000

// benchSDN generates an SDN.XML of n entries, each with an alias and, for
// one in ten, a wallet.
func benchSDN(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<sdnList xmlns=\"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML\">\n<publshInformation><Publish_Date>11/24/2026</Publish_Date><Record_Count>%d</Record_Count></publshInformation>\n", n)
	for i := range n {
		fmt.Fprintf(&b, "<sdnEntry><uid>%d</uid><firstName>Name%d</firstName><lastName>SURNAME%dOV</lastName><sdnType>Individual</sdnType><programList><program>CYBER2</program></programList>", i, i, i)
		fmt.Fprintf(&b, "<akaList><aka><uid>%d</uid><type>a.k.a.</type><category>strong</category><lastName>GROUP %d CREW</lastName></aka></akaList>", n+i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "<idList><id><uid>%d</uid><idType>Digital Currency Address - ETH</idType><idNumber>0x%040x</idNumber></id></idList>", 2*n+i, i)
		}
		b.WriteString("</sdnEntry>\n")
	}
	b.WriteString("</sdnList>\n")
	return b.Bytes()
}

func BenchmarkImportOFACXML(b *testing.B) {
	data := benchSDN(benchEntries)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseOFACXML(bytes.NewReader(data), 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}

func benchScreener(b *testing.B) *Screener {
	l, err := ParseOFACXML(bytes.NewReader(benchSDN(benchEntries)), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	return NewScreener(l)
}

func BenchmarkScreenWallet(b *testing.B) {
	s := benchScreener(b)
	req := Request{Subjects: []Subject{{Kind: "wallet", Chain: "ETH", Value: fmt.Sprintf("0x%040X", 19990)}}, By: "bench", At: time.Unix(0, 0)}
	for b.Loop() {
		sc, err := s.Screen(req)
		if err != nil || sc.Result != Hit {
			b.Fatalf("got %v, %v", sc, err)
		}
	}
}

func BenchmarkScreenName(b *testing.B) {
	s := benchScreener(b)
	req := Request{Subjects: []Subject{{Kind: "name", Value: "Group 19990 Krew"}}, By: "bench", At: time.Unix(0, 0)}
	for b.Loop() {
		sc, err := s.Screen(req)
		if err != nil || sc.Result == Clear {
			b.Fatalf("got %v, %v", sc.Result, err)
		}
	}
}
