// Package policies holds Vallum's default rule pack for Italy, embedded in
// the binary so that "vallum" decides with no --policy flag.
//
// The pack is data, meant to be read and changed by a lawyer: pack.yaml
// (name, version, settings, citation titles, the catalogue of action kinds),
// rules.cedar (the rules, with their citations and explanations) and
// schema.cedarschema (what the rules may read). docs/guardrail.md describes
// the format; package guard loads it.
package policies

import (
	"embed"
	"io/fs"
)

//go:embed pack.yaml rules.cedar schema.cedarschema
var files embed.FS

// FS returns the embedded default rule pack.
func FS() fs.FS { return files }
