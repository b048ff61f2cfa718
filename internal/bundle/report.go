package bundle

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	_ "time/tzdata" // Europe/Rome without the system's zone database

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

//go:embed templates/report.html.tmpl templates/VERIFY.md.tmpl
var templates embed.FS

var rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	return l
}()

// ReportData is what the report shows. Export fills it from the desk and
// the bundle's own verification; tests fill it by hand.
type ReportData struct {
	Incident incident.Incident
	Origin   string
	VKey     string
	TreeSize int64
	Root     string
	Created  time.Time
	Version  string
	Verified *Report
	Timeline []incident.TimelineItem
	Actions  []ActionView
	Clocks   []incident.Clock
	Ransom   incident.RansomTrack
	Evidence []incident.EvidenceItem
	// FilesMissing are evidence hashes whose files were asked for but not
	// available; FilesIncluded reports --with-files.
	FilesIncluded bool
	FilesMissing  []string
}

// ActionView is an action with the decisions logged for it.
type ActionView struct {
	Action    incident.Action
	Decisions []DecisionView
	Steps     []incident.TimelineItem
}

// DecisionView is one guardrail decision of an action, as logged.
type DecisionView struct {
	// Index is the decision entry; Binding the action.decided or
	// action.rechecked entry that binds it to the action.
	Index     int64
	Binding   int64
	Recheck   bool
	DecidedAt time.Time
	Decision  guard.Decision
	Erased    bool
}

func (b *builder) reportData(ctx context.Context, inc incident.Incident, rep *Report, items []incident.EvidenceItem, missing []string, created time.Time, m Manifest) (ReportData, error) {
	d := ReportData{Incident: inc, Origin: m.Origin, VKey: strings.TrimSpace(b.deps.VKey), TreeSize: m.TreeSize, Root: rep.Root,
		Created: created, Version: m.Vallum, Verified: rep, Evidence: items, FilesMissing: missing}
	var err error
	if d.Timeline, err = b.deps.Desk.Timeline(ctx, b.id); err != nil {
		return d, err
	}
	if d.Clocks, err = b.deps.Desk.Clocks(ctx, b.id); err != nil {
		return d, err
	}
	if d.Ransom, err = b.deps.Desk.RansomTrack(ctx, b.id); err != nil {
		return d, err
	}
	actions, err := b.deps.Desk.ListActions(ctx, b.id)
	if err != nil {
		return d, err
	}
	for _, a := range actions {
		av := ActionView{Action: a}
		for _, t := range d.Timeline {
			if t.Subject == a.ID {
				av.Steps = append(av.Steps, t)
			}
		}
		for _, t := range av.Steps {
			if t.Kind != incident.KindDecided && t.Kind != incident.KindRechecked {
				continue
			}
			av.Decisions = append(av.Decisions, decisionFrom(b.files, t.Index, t.Kind == incident.KindRechecked))
		}
		d.Actions = append(d.Actions, av)
	}
	b.scrub(&d)
	d.FilesIncluded = false
	for _, p := range b.files.Paths() {
		if strings.HasPrefix(p, "evidence/files/") {
			d.FilesIncluded = true
		}
	}
	return d, nil
}

// decisionFrom reads a binding entry and the decision it names from the
// bundle's files.
func decisionFrom(files Files, binding int64, recheck bool) DecisionView {
	dv := DecisionView{Index: -1, Binding: binding, Recheck: recheck}
	var bp struct {
		Decision incident.Receipt `json:"decision"`
	}
	pb, ok := files[entryFile(binding, payloadName)]
	if !ok || json.Unmarshal(pb, &bp) != nil {
		dv.Erased = true
		return dv
	}
	dv.Index = bp.Decision.Index
	var rec struct {
		Decision  guard.Decision `json:"decision"`
		DecidedAt time.Time      `json:"decided_at"`
	}
	db, ok := files[entryFile(dv.Index, payloadName)]
	if !ok || json.Unmarshal(db, &rec) != nil {
		dv.Erased = true
		return dv
	}
	dv.Decision, dv.DecidedAt = rec.Decision, rec.DecidedAt
	return dv
}

// dict holds the report's words in each language.
var dict = map[string]map[string]string{
	"en": {
		"title": "Court bundle", "incident": "Incident", "produced": "Produced", "log": "Evidence log", "tree": "tree size", "root": "root hash",
		"summary": "Incident summary", "status": "Status", "severity": "Severity", "categories": "Categories", "assignees": "Assignees",
		"created_by": "Opened by", "description": "Description", "verification": "Verification", "verified_ok": "The bundle verifies: every check below passed.",
		"verified_fail": "The bundle does NOT verify. Problems:", "key_pinned": "The log's key was pinned by the verifier.",
		"key_bundle": "The log's key was taken from the bundle itself; an expert should pin the key the organisation published (vallum verify --vkey).",
		"anchors":    "Independent time-stamps (RFC 3161)", "authority": "Authority", "stamped": "Stamped tree", "time": "Time", "time_rome": "Time (Europe/Rome)",
		"qualified": "Qualified (eIDAS)", "yes": "yes", "no": "no", "none_anchor": "No RFC 3161 time-stamp covers this bundle: its times rest on the server's clock alone.",
		"proves": "What the log proves", "cannot": "What the log cannot prove", "timeline": "Timeline", "index": "Log entry", "kind": "What", "actor": "Who",
		"summary_col": "Detail", "erased": "erased", "actions": "Actions", "action": "Action", "target": "Target", "proposer": "Proposed by", "state": "State",
		"decision": "Decision", "verdict": "Verdict", "legal_basis": "Legal basis", "rules": "Rules", "missing": "Missing", "obligations": "Obligations",
		"policy": "Rule pack", "approvals": "Approvals", "role": "Role", "by": "By", "at": "At", "executed": "Execution", "steps": "Steps",
		"recheck": "re-check before execution", "first_decision": "decision", "no_actions": "No response action was proposed.",
		"clocks": "Notifications and deadlines", "regime": "Regime", "deadline": "Deadline", "due": "Due", "met": "Submitted", "channel": "Channel",
		"reference": "Reference", "late_reason": "Reason for delay", "no_clocks": "No notification regime was declared for this incident.",
		"authority_reports": "Reports to the judicial authority", "custody": "Chain of custody", "item": "Item", "sha256": "SHA-256", "size": "Size",
		"source": "Source", "tool": "Tool", "method": "Method", "acquired": "Acquired", "holder": "Holder", "step": "Step", "no_evidence": "No evidence item was recorded.",
		"files_included": "The evidence files are in the bundle under evidence/files/, named by their SHA-256.",
		"files_hashes":   "The bundle holds the SHA-256 of each evidence item, not the files (export with --with-files to include the files Vallum holds).",
		"files_missing":  "Files asked for but not held by Vallum:", "erasures": "Erased personal data", "erased_entry": "Entry", "erased_by": "Erased by entry",
		"reason": "Reason", "no_erasures": "No payload of this bundle was erased.", "entries": "Log entries in this bundle", "leaf": "Leaf hash",
		"anchored": "Existed no later than", "not_anchored": "not yet time-stamped", "decision_erased": "the decision's record was erased",
		"extortion": "The incident is marked as extortion.", "warnings": "Notes",
		"aid":              "NOT VERIFIED: this report is a reading aid made by the exporter from the log's entries. No proof of the log covers it, and vallum verify does not check it: anyone holding the bundle could rewrite it. The evidence is the entries and proofs in the bundle; check each fact below against the log entry it names.",
		"aid_verify":       "The status below is what the exporter's own verification found when it made the bundle. It is part of this report, so it is not verified either: run vallum verify --vkey on the bundle.",
		"chk_files":        "Files: the SHA-256 of each of the %d files matches the manifest and SHA256SUMS.",
		"chk_cps":          "Checkpoints: %d signed checkpoints of the log (tree sizes %s), each consistent with the next.",
		"chk_entries":      "Entries: %d entries, each byte-for-byte in the signed tree (inclusion proof), each payload matching its header's commitment; %d payloads erased, each by a logged erasure.",
		"chk_anchors":      "Time-stamps: %d RFC 3161 time-stamps verify against the checkpoints they stamp and the authorities' certificates.",
		"chk_packs":        "Rule packs: %d rule packs named by the decisions; those included match their digests.",
		"chk_complete":     "Completeness: the bundle holds every header of the log (%d), whose tree is the signed one, so no entry naming this incident was left out.",
		"cannot2_complete": "That nothing happened that was never logged. (This bundle holds every header of the log, so it does prove that no logged entry naming the incident was left out.)",
		"prove1":           "Integrity: every entry in this bundle is byte-for-byte the one the log recorded; a change to any header, payload or proof makes verification fail.",
		"prove2":           "Order and completeness since logging: the entries sit at the positions shown in one append-only tree; each checkpoint is consistent with the later ones, so nothing was removed, inserted or reordered between them.",
		"prove3":           "Who and when, as recorded: each entry names the authenticated identity that appended it and the server's time of logging.",
		"prove4":           "Existence no later than the RFC 3161 time: each time-stamped checkpoint, and every entry it contains, existed at the latest at the time the independent authority signed; with a qualified authority, eIDAS art. 41(2) presumes that time and the integrity of the data.",
		"prove5":           "Erasure without loss of proof: an erased payload's salted commitment stays in its header, and the erasure itself is an entry saying when, by whom and why.",
		"cannot1":          "That the content of an entry is true: the log proves what was recorded, not that it was accurate.",
		"cannot2":          "That nothing happened that was never logged, or that this bundle holds every entry of the incident: it holds the entries selected by the exporter, each proven; others may exist in the log.",
		"cannot3":          "The time of an entry before its first time-stamp: until then the time is the server's clock reading alone.",
		"cannot4":          "Anything, if the log's signing key was compromised or the verifier key was not obtained independently of the organisation; nor the content of erased payloads.",
		"cannot5":          "The legal assessment: the guardrail's decisions record the rules applied; whether an action was lawful is for the court.",
	},
	"it": {
		"title": "Fascicolo probatorio", "incident": "Incidente", "produced": "Prodotto il", "log": "Registro delle evidenze", "tree": "dimensione dell'albero", "root": "hash radice",
		"summary": "Sintesi dell'incidente", "status": "Stato", "severity": "Gravità", "categories": "Categorie", "assignees": "Assegnatari",
		"created_by": "Aperto da", "description": "Descrizione", "verification": "Verifica", "verified_ok": "Il fascicolo è verificato: tutti i controlli seguenti sono superati.",
		"verified_fail": "Il fascicolo NON è verificato. Problemi:", "key_pinned": "La chiave del registro è stata fissata da chi verifica.",
		"key_bundle": "La chiave del registro è stata presa dal fascicolo stesso; il perito dovrebbe fissare la chiave pubblicata dall'organizzazione (vallum verify --vkey).",
		"anchors":    "Marche temporali indipendenti (RFC 3161)", "authority": "Autorità", "stamped": "Albero marcato", "time": "Ora", "time_rome": "Ora (Europa/Roma)",
		"qualified": "Qualificata (eIDAS)", "yes": "sì", "no": "no", "none_anchor": "Nessuna marca temporale RFC 3161 copre questo fascicolo: gli orari si basano solo sull'orologio del server.",
		"proves": "Che cosa prova il registro", "cannot": "Che cosa il registro non può provare", "timeline": "Cronologia", "index": "Voce del registro", "kind": "Che cosa", "actor": "Chi",
		"summary_col": "Dettaglio", "erased": "cancellato", "actions": "Azioni", "action": "Azione", "target": "Obiettivo", "proposer": "Proposta da", "state": "Stato",
		"decision": "Decisione", "verdict": "Esito", "legal_basis": "Base giuridica", "rules": "Regole", "missing": "Mancanti", "obligations": "Obblighi",
		"policy": "Pacchetto di regole", "approvals": "Approvazioni", "role": "Ruolo", "by": "Da", "at": "Il", "executed": "Esecuzione", "steps": "Passi",
		"recheck": "nuovo controllo prima dell'esecuzione", "first_decision": "decisione", "no_actions": "Non è stata proposta alcuna azione di risposta.",
		"clocks": "Notifiche e termini", "regime": "Disciplina", "deadline": "Termine", "due": "Scadenza", "met": "Inviata", "channel": "Canale",
		"reference": "Riferimento", "late_reason": "Motivi del ritardo", "no_clocks": "Per questo incidente non è stata dichiarata alcuna disciplina di notifica.",
		"authority_reports": "Denunce all'autorità giudiziaria", "custody": "Catena di custodia", "item": "Reperto", "sha256": "SHA-256", "size": "Dimensione",
		"source": "Fonte", "tool": "Strumento", "method": "Metodo", "acquired": "Acquisito", "holder": "Custode", "step": "Passo", "no_evidence": "Non è stato registrato alcun reperto.",
		"files_included": "I file dei reperti sono nel fascicolo in evidence/files/, con il loro SHA-256 come nome.",
		"files_hashes":   "Il fascicolo contiene lo SHA-256 di ogni reperto, non i file (esportare con --with-files per includere i file che Vallum conserva).",
		"files_missing":  "File richiesti ma non conservati da Vallum:", "erasures": "Dati personali cancellati", "erased_entry": "Voce", "erased_by": "Cancellata dalla voce",
		"reason": "Motivo", "no_erasures": "Nessun contenuto di questo fascicolo è stato cancellato.", "entries": "Voci del registro in questo fascicolo", "leaf": "Hash della foglia",
		"anchored": "Esisteva non oltre", "not_anchored": "non ancora marcata", "decision_erased": "il contenuto della decisione è stato cancellato",
		"extortion": "L'incidente è segnalato come estorsione.", "warnings": "Note",
		"aid":              "NON VERIFICATO: questa relazione è un ausilio alla lettura redatto da chi ha esportato il fascicolo a partire dalle voci del registro. Nessuna prova del registro la copre e vallum verify non la controlla: chiunque detenga il fascicolo potrebbe riscriverla. Le evidenze sono le voci e le prove contenute nel fascicolo; ogni fatto qui riportato va controllato sulla voce del registro che indica.",
		"aid_verify":       "L'esito seguente è quello della verifica svolta da chi ha esportato il fascicolo al momento di produrlo. Fa parte di questa relazione, quindi non è verificato neppure esso: eseguire vallum verify --vkey sul fascicolo.",
		"chk_files":        "File: lo SHA-256 di ciascuno dei %d file corrisponde al manifest e a SHA256SUMS.",
		"chk_cps":          "Checkpoint: %d checkpoint firmati del registro (dimensioni %s), ciascuno coerente con il successivo.",
		"chk_entries":      "Voci: %d voci, ciascuna identica byte per byte a quella nell'albero firmato (prova di inclusione), ciascun contenuto conforme all'impegno della sua intestazione; %d contenuti cancellati, ciascuno da una cancellazione registrata.",
		"chk_anchors":      "Marche temporali: %d marche temporali RFC 3161 verificate sui checkpoint che marcano e sui certificati delle autorità.",
		"chk_packs":        "Pacchetti di regole: %d pacchetti indicati dalle decisioni; quelli inclusi corrispondono al loro digest.",
		"chk_complete":     "Completezza: il fascicolo contiene tutte le intestazioni del registro (%d), il cui albero è quello firmato: nessuna voce che riguarda l'incidente è stata omessa.",
		"cannot2_complete": "Che non sia accaduto nulla di non registrato. (Il fascicolo contiene tutte le intestazioni del registro, quindi prova che nessuna voce registrata che riguarda l'incidente è stata omessa.)",
		"prove1":           "Integrità: ogni voce del fascicolo è, byte per byte, quella registrata; una modifica a un'intestazione, a un contenuto o a una prova fa fallire la verifica.",
		"prove2":           "Ordine e completezza dalla registrazione: le voci occupano le posizioni indicate in un unico albero a sola aggiunta; ogni checkpoint è coerente con i successivi, quindi tra di essi nulla è stato tolto, inserito o riordinato.",
		"prove3":           "Chi e quando, come registrato: ogni voce indica l'identità autenticata che l'ha aggiunta e l'ora di registrazione secondo il server.",
		"prove4":           "Esistenza non oltre l'ora RFC 3161: ogni checkpoint marcato, e ogni voce che contiene, esisteva al più tardi all'ora firmata dall'autorità indipendente; con una marca qualificata l'art. 41(2) eIDAS presume l'esattezza di quell'ora e l'integrità dei dati.",
		"prove5":           "Cancellazione senza perdita della prova: l'impegno (hash con sale) di un contenuto cancellato resta nella sua intestazione, e la cancellazione stessa è una voce che dice quando, da chi e perché.",
		"cannot1":          "Che il contenuto di una voce sia vero: il registro prova che cosa è stato registrato, non che fosse esatto.",
		"cannot2":          "Che non sia accaduto nulla di non registrato, o che il fascicolo contenga tutte le voci dell'incidente: contiene le voci scelte da chi l'ha esportato, ciascuna provata; altre possono esistere nel registro.",
		"cannot3":          "L'ora di una voce prima della sua prima marca temporale: fino ad allora l'ora è solo quella dell'orologio del server.",
		"cannot4":          "Alcunché, se la chiave di firma del registro è stata compromessa o la chiave di verifica non è stata ottenuta indipendentemente dall'organizzazione; né il contenuto dei dati cancellati.",
		"cannot5":          "La valutazione giuridica: le decisioni del sistema registrano le regole applicate; se un'azione fosse lecita lo stabilisce il giudice.",
	},
}

func funcs(lang string) template.FuncMap {
	words := dict[lang]
	return template.FuncMap{
		"t": func(k string) string {
			if w, ok := words[k]; ok {
				return w
			}
			return k
		},
		"utc": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"rome": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(rome).Format("02/01/2006 15:04:05 MST")
		},
		"logtime": func(s string) string {
			t, err := time.Parse(evidence.TimeFormat, s)
			if err != nil {
				return s
			}
			return t.In(rome).Format("02/01/2006 15:04:05 MST")
		},
		"join": func(l []string) string { return strings.Join(l, ", ") },
		"tf": func(k string, args ...any) string {
			w, ok := words[k]
			if !ok {
				return k
			}
			return fmt.Sprintf(w, args...)
		},
		"sizes": joinInts,
		"short": func(s string) string { return shorten(s, 16) },
		"citations": func(cs []guard.Citation) []string {
			var out []string
			for _, c := range cs {
				out = append(out, c.ID+" — "+c.Title)
			}
			return out
		},
		"rules": func(rs []guard.Rule) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID+": "+r.Title)
			}
			return out
		},
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RenderHTML renders the report in lang ("it" or "en"). The page is
// self-contained: inline style, no script, no external asset.
func RenderHTML(d ReportData, lang string) ([]byte, error) {
	if _, ok := dict[lang]; !ok {
		return nil, fmt.Errorf("report language %q: want it or en", lang)
	}
	t, err := template.New("report.html.tmpl").Funcs(funcs(lang)).ParseFS(templates, "templates/report.html.tmpl")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct {
		ReportData
		Lang string
	}{d, lang}); err != nil {
		return nil, fmt.Errorf("couldn't render the report: %w", err)
	}
	return b.Bytes(), nil
}

// ErrNoChromium means no headless Chromium was found for the PDF.
var ErrNoChromium = errors.New("chromium is not installed")

// FindChromium returns the path of a Chromium binary, or ErrNoChromium.
func FindChromium(path string) (string, error) {
	if path != "" {
		return exec.LookPath(path)
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// RenderPDF prints html to PDF with headless Chromium, sandboxed from the
// network and from the user's profile (a fresh one in a temporary
// directory). It returns ErrNoChromium when Chromium is missing.
func RenderPDF(ctx context.Context, html []byte, chromium string) ([]byte, error) {
	bin, err := FindChromium(chromium)
	if err != nil {
		return nil, ErrNoChromium
	}
	tmp, err := os.MkdirTemp("", "vallum-report-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	in, out := filepath.Join(tmp, "report.html"), filepath.Join(tmp, "report.pdf")
	if err := os.WriteFile(in, html, 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-pdf-header-footer",
		"--user-data-dir="+filepath.Join(tmp, "profile"), "--print-to-pdf="+out, "file://"+in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Dir = tmp
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("chromium couldn't print the report: %v: %s", err, shorten(stderr.String(), 2000))
	}
	pdf, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return nil, fmt.Errorf("chromium wrote no PDF: %s", shorten(stderr.String(), 2000))
	}
	return pdf, nil
}

func (b *builder) writeVerifyMD(m Manifest, opts Options) error {
	t, err := texttemplate.New("VERIFY.md.tmpl").ParseFS(templates, "templates/VERIFY.md.tmpl")
	if err != nil {
		return err
	}
	type anchorRef struct{ Dir, Checkpoint string }
	var anchors []anchorRef
	for _, p := range b.files.Paths() {
		if strings.HasSuffix(p, "/anchor.json") {
			var ai AnchorInfo
			json.Unmarshal(b.files[p], &ai)
			anchors = append(anchors, anchorRef{strings.TrimSuffix(p, "/anchor.json"), ai.Checkpoint})
		}
	}
	var entries []int64
	for i := range b.why {
		entries = append(entries, i)
	}
	slices.Sort(entries)
	var first int64 = -1
	if len(entries) > 0 {
		first = entries[0]
	}
	var out bytes.Buffer
	err = t.Execute(&out, map[string]any{
		"M": m, "VKey": strings.TrimSpace(b.deps.VKey), "Anchors": anchors, "Entries": len(entries), "First": first,
		"Langs": opts.Langs, "AllHeaders": opts.AllHeaders,
	})
	if err != nil {
		return err
	}
	b.files[VerifyFile] = out.Bytes()
	return nil
}
