package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/vallum/vallum/internal/sanctions"
)

func runSanctions(ctx context.Context, env *cliEnv, args []string) error {
	return runGroup(ctx, env, "sanctions", args, subcommands{
		"import": runSanctionsImport,
		"lists":  runSanctionsLists,
		"screen": runSanctionsScreen,
	}, `Usage: vallum sanctions <import|lists|screen> [flags]

  import --format F FILE [--alt ALT.csv]   load a list file into the server; prints its provenance
  lists                                    print the provenance of the loaded lists
  screen --wallet ADDR [--chain C] | --name NAME [--incident ID]
                                           screen and log; exit 0 clear, 3 possible match, 4 hit

A clear result is not permission to pay or negotiate (docs/sanctions.md).
`)
}

func runSanctionsImport(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "sanctions import", "sanctions import [--format ofac-csv|ofac-xml|ofac-advanced|eu-xml] [--alt ALT.csv] FILE")
	format := fs.String("format", "", "list format: ofac-csv (sdn.csv, with --alt alt.csv), ofac-xml (SDN.XML), ofac-advanced (SDN_ADVANCED.XML), eu-xml (EU FSF XML); default: recognised from the file")
	alt := fs.String("alt", "", "alt.csv of the same publication, for --format ofac-csv")
	server, data := addClientFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: exitBadInput, err: withHint(errors.New("want exactly one list file"), "run 'vallum sanctions import --help'")}
	}
	if *format == "" {
		f, altPath, err := detectListFormat(pos[0])
		if err != nil {
			return &exitError{code: exitBadInput, err: withHint(err, "pass --format ofac-csv, ofac-xml, ofac-advanced or eu-xml")}
		}
		*format = f
		if *alt == "" {
			*alt = altPath
		}
	}
	if (*format == "ofac-csv") != (*alt != "") {
		return &exitError{code: exitBadInput, err: withHint(errors.New("--alt goes with --format ofac-csv, and only with it"),
			"the OFAC CSV list is two files: pass sdn.csv as FILE and alt.csv with --alt")}
	}
	files := []string{pos[0]}
	if *alt != "" {
		files = append(files, *alt)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return &exitError{code: exitBadInput, err: fmt.Errorf("couldn't read the list file: %w", err)}
		}
	}
	body, contentType := uploadBody(files)
	defer body.Close()
	path := "/api/v1/sanctions/lists?" + url.Values{"format": {*format}}.Encode()
	b, err := newClient(*server, *data).send(ctx, http.MethodPost, path, contentType, body, true)
	if err != nil {
		return err
	}
	return writeIndented(env.stdout, b)
}

// uploadBody streams the list file, or for the CSV list sdn.csv and
// alt.csv as the multipart parts sdn and alt, without reading them into
// memory.
func uploadBody(files []string) (io.ReadCloser, string) {
	if len(files) == 1 {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(copyFile(pw, files[0])) }()
		return pr, "application/octet-stream"
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for i, part := range []string{"sdn", "alt"} {
			w, err := mw.CreateFormFile(part, files[i])
			if err == nil {
				err = copyFile(w, files[i])
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

func copyFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func runSanctionsLists(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "sanctions lists", "sanctions lists [--server URL] [--data DIR]")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, "/api/v1/sanctions/lists", nil, true)
	if err != nil {
		return err
	}
	return writeIndented(env.stdout, b)
}

func runSanctionsScreen(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "sanctions screen", "sanctions screen --wallet ADDR [--chain C] | --name NAME [--incident ID] [--threshold T]")
	wallet := fs.String("wallet", "", "wallet address to screen")
	chain := fs.String("chain", "", "asset code of the wallet (XBT or BTC, ETH, XMR, …)")
	name := fs.String("name", "", "name, alias, persona, email or onion URL to screen")
	incident := fs.String("incident", "", "incident the screening belongs to")
	threshold := fs.Float64("threshold", 0, "name similarity for a possible match (default 0.90)")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitBadInput, err: fmt.Errorf("unexpected argument %q: pass --wallet or --name", fs.Arg(0))}
	}
	var sub sanctions.Subject
	switch {
	case (*wallet == "") == (*name == ""):
		return &exitError{code: exitBadInput, err: withHint(errors.New("want exactly one of --wallet and --name"), "screen each identifier on its own")}
	case *wallet != "":
		sub = sanctions.Subject{Kind: "wallet", Value: *wallet, Chain: *chain}
	default:
		sub = sanctions.Subject{Kind: "name", Value: *name}
	}
	body, err := json.Marshal(map[string]any{"subjects": []sanctions.Subject{sub}, "threshold": *threshold})
	if err != nil {
		return err
	}
	path := "/api/v1/sanctions/screen"
	if *incident != "" {
		path += "?" + url.Values{"incident": {*incident}}.Encode()
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodPost, path, body, true)
	if err != nil {
		return err
	}
	if err := writeIndented(env.stdout, b); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout)
	var sc sanctions.Screening
	if err := json.Unmarshal(b, &sc); err != nil {
		return fmt.Errorf("couldn't read the screening: %w", err)
	}
	switch sc.Result {
	case sanctions.Clear:
		fmt.Fprintln(env.stderr, "vallum: clear, which is not permission to pay or negotiate")
		return nil
	case sanctions.PossibleMatch:
		fmt.Fprintln(env.stderr, "vallum: possible match: a reviewer must record a disposition of each one")
		return &exitError{code: exitConditional}
	default:
		fmt.Fprintln(env.stderr, "vallum: hit: the counterpart is on a sanctions list")
		return &exitError{code: exitDeny}
	}
}

// detectListFormat recognises a list file: a .csv is OFAC's sdn.csv, whose
// alt.csv must lie beside it; an XML file is told apart by its root
// element (sdnList, Sanctions, export). Only the start of the file is read;
// the server parses the whole of it.
func detectListFormat(path string) (format, alt string, err error) {
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		alt = filepath.Join(filepath.Dir(path), "alt.csv")
		if _, err := os.Stat(alt); err != nil {
			return "", "", fmt.Errorf("%s looks like OFAC's sdn.csv, but there is no alt.csv beside it (pass it with --alt)", path)
		}
		return "ofac-csv", alt, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("couldn't read the list file: %w", err)
	}
	defer f.Close()
	dec := xml.NewDecoder(io.LimitReader(f, 64<<10))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", fmt.Errorf("couldn't recognise the format of %s (not CSV, and no XML root element in its first 64 KiB)", path)
		}
		if el, ok := tok.(xml.StartElement); ok {
			switch el.Name.Local {
			case "sdnList":
				return "ofac-xml", "", nil
			case "Sanctions":
				return "ofac-advanced", "", nil
			case "export":
				return "eu-xml", "", nil
			}
			return "", "", fmt.Errorf("couldn't recognise the format of %s: root element <%s>", path, el.Name.Local)
		}
	}
}
