// istio-oracle runs Istio's own sidecar injector (istio.io/istio/pkg/kube/inject, the code istiod
// serves on /inject and istioctl runs for kube-inject) so `make conformance` can compare our injector
// with it. Its configuration is Istio's default install: the istio-sidecar-injector and istio
// ConfigMaps rendered from the istio-discovery chart embedded in the pinned module (profile "empty"
// with only pilot enabled), which is how Istio's own injection tests obtain theirs.
//
//	istio-oracle serve [--native=true|false] [--set k=v]...
//	    plain HTTP on 127.0.0.1 (random port, printed as the first stdout line "listening <url>"):
//	    POST /inject       an AdmissionReview (Content-Type: application/json), answered by inject.Webhook
//	    POST /kube-inject  a YAML stream, answered with what `istioctl kube-inject` writes (422 + message on error)
//	istio-oracle config <dir>
//	    writes the rendered settings as the files `istioctl kube-inject` takes without a cluster:
//	    <dir>/mesh.yaml (--meshConfigFile), inject-config.yaml (--injectConfigFile), values.json (--valuesFile)
//	istio-oracle goldens <istio module dir>
//	    reproduces the goldens of pkg/kube/inject/testdata/inject with this setup and prints a summary
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
)

// settings is what an istiod of the default install is given.
type settings struct {
	config    *inject.Config
	rawConfig string // the ConfigMap's "config" key
	values    string // the ConfigMap's "values" key, raw JSON
	mesh      *meshconfig.MeshConfig
	rawMesh   string // the istio ConfigMap's "mesh" key
}

// renderSettings renders the chart the way Istio's inject tests do (webhook_test.go getInjectionSettings).
func renderSettings(setFlags []string, files []string) (*settings, error) {
	flags := append([]string{"profile=empty", "components.pilot.enabled=true"}, setFlags...)
	sets, _, err := render.GenerateManifest(files, flags, false, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("render charts: %w", err)
	}
	s := &settings{}
	for _, set := range sets {
		for _, m := range set.Manifests {
			if m.GetKind() != "ConfigMap" {
				continue
			}
			data, _ := m.Object["data"].(map[string]any)
			switch m.GetName() {
			case "istio-sidecar-injector":
				raw, _ := data["config"].(string)
				cfg, err := inject.UnmarshalConfig([]byte(raw))
				if err != nil {
					return nil, fmt.Errorf("injector config: %w", err)
				}
				s.config, s.rawConfig = &cfg, raw
				s.values, _ = data["values"].(string)
			case "istio":
				raw, _ := data["mesh"].(string)
				mc, err := mesh.ApplyMeshConfig(raw, mesh.DefaultMeshConfig())
				if err != nil {
					return nil, fmt.Errorf("mesh config: %w", err)
				}
				s.mesh, s.rawMesh = mc, raw
			}
		}
	}
	if s.config == nil || s.mesh == nil || s.values == "" {
		return nil, errors.New("the rendered charts have no istio-sidecar-injector or istio ConfigMap")
	}
	return s, nil
}

// kubeInject is what `istioctl kube-inject` does with a file, without a cluster.
func (s *settings) kubeInject(revision string, in io.Reader, out io.Writer) ([]string, error) {
	values, err := inject.NewValuesConfig(s.values)
	if err != nil {
		return nil, err
	}
	mc, err := mesh.DeepCopyMeshConfig(s.mesh)
	if err != nil {
		return nil, err
	}
	var warnings []string
	warn := func(w string) { warnings = append(warnings, strings.TrimSpace(w)) }
	return warnings, inject.IntoResourceFile(nil, s.config.Templates, values, revision, mc, in, out, warn)
}

type staticWatcher struct{ s *settings }

func (w staticWatcher) SetHandler(func(*inject.Config, string) error) {}
func (w staticWatcher) Run(<-chan struct{})                           {}
func (w staticWatcher) Get() (*inject.Config, string, error)          { return w.s.config, w.s.values, nil }

func setNative(native string) error {
	switch native {
	case "true":
		features.EnableNativeSidecars = features.NativeSidecarModeEnabled
	case "false":
		features.EnableNativeSidecars = features.NativeSidecarModeDisabled
	default:
		return fmt.Errorf("--native must be true or false, not %q", native)
	}
	return nil
}

type setFlags []string

func (f *setFlags) String() string     { return strings.Join(*f, ",") }
func (f *setFlags) Set(v string) error { *f = append(*f, v); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	native := fs.String("native", "true", "native sidecars (true) or classic (false)")
	revision := fs.String("revision", "default", "the istiod revision")
	var sets setFlags
	fs.Var(&sets, "set", "a chart value, as istioctl's --set (repeatable)")
	_ = fs.Parse(args)
	if err := setNative(*native); err != nil {
		return err
	}
	s, err := renderSettings(sets, nil)
	if err != nil {
		return err
	}
	env := &model.Environment{Watcher: meshwatcher.NewTestWatcher(s.mesh)}
	env.SetPushContext(&model.PushContext{ProxyConfigs: &model.ProxyConfigs{}})
	mux := http.NewServeMux()
	if _, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      staticWatcher{s},
		Env:          env,
		Mux:          mux,
		Revision:     *revision,
		MultiCluster: multicluster.NewFakeController(),
	}); err != nil {
		return err
	}
	// kube-inject runs with istioctl's --revision, which is empty unless given.
	var mu sync.Mutex
	mux.HandleFunc("/kube-inject", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var out bytes.Buffer
		mu.Lock()
		warnings, err := s.kubeInject(r.URL.Query().Get("revision"), bytes.NewReader(body), &out)
		mu.Unlock()
		for _, warning := range warnings {
			w.Header().Add("X-Warning", strings.ReplaceAll(warning, "\n", " "))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(out.Bytes())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	// Exit with the parent: the harness closes our stdin when it is done.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	return http.Serve(ln, mux)
}

// goldenCase is one entry of TestInjection's table in pkg/kube/inject/inject_test.go.
type goldenCase struct {
	in, want, inFilePath string
	setFlags             []string
	hook                 string // a Go-level setting (mesh, setup) this program cannot reproduce
	expectedError        string
}

// readGoldenCases reads TestInjection's explicit cases from the test source, so the settings each
// golden was made with are Istio's, not a copy of them.
func readGoldenCases(testFile string) ([]goldenCase, error) {
	f, err := parser.ParseFile(token.NewFileSet(), testFile, nil, 0)
	if err != nil {
		return nil, err
	}
	var cases []goldenCase
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "TestInjection" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
				return true
			}
			if id, ok := as.Lhs[0].(*ast.Ident); !ok || id.Name != "cases" {
				return true
			}
			list, ok := as.Rhs[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			for _, el := range list.Elts {
				lit, ok := el.(*ast.CompositeLit)
				if !ok {
					continue
				}
				var c goldenCase
				for _, kv := range lit.Elts {
					kv, ok := kv.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key := kv.Key.(*ast.Ident).Name
					switch key {
					case "in", "want", "inFilePath":
						s := stringLit(kv.Value)
						switch key {
						case "in":
							c.in = s
						case "want":
							c.want = s
						default:
							c.inFilePath = s
						}
					case "setFlags":
						if sl, ok := kv.Value.(*ast.CompositeLit); ok {
							for _, e := range sl.Elts {
								c.setFlags = append(c.setFlags, stringLit(e))
							}
						}
					case "expectedError":
						c.expectedError = stringLit(kv.Value)
					case "mesh", "setup", "skipInjection":
						c.hook = key
					}
				}
				if c.want == "" {
					c.want = c.in + ".injected"
				}
				cases = append(cases, c)
			}
			return false
		})
		return false
	})
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: no TestInjection cases found", testFile)
	}
	return cases, nil
}

func stringLit(e ast.Expr) string {
	if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
		if s, err := strconv.Unquote(b.Value); err == nil {
			return s
		}
	}
	return ""
}

func goldens(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: istio-oracle goldens <istio module dir>")
	}
	pkgDir := filepath.Join(args[0], "pkg/kube/inject")
	dataDir := filepath.Join(pkgDir, "testdata/inject")
	cases, err := readGoldenCases(filepath.Join(pkgDir, "inject_test.go"))
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, c := range cases {
		listed[c.want] = true
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".iop.yaml") && !listed[n+".injected"] {
			cases = append(cases, goldenCase{in: n, want: n + ".injected"})
		}
	}
	sort.SliceStable(cases, func(i, j int) bool { return cases[i].want < cases[j].want })
	// TestInjection's fake cluster has only nodes at kubelet 1.33+, so "auto" means native.
	if err := setNative("true"); err != nil {
		return err
	}
	rendered := map[string]*settings{}
	exact, trimmed, errored, failed, skipped := 0, 0, 0, 0, 0
	for _, c := range cases {
		if c.hook != "" {
			skipped++
			fmt.Printf("SKIP  %s (%s: a Go-level test hook)\n", c.want, c.hook)
			continue
		}
		key := strings.Join(c.setFlags, "\x00") + "\x01" + c.inFilePath
		s, ok := rendered[key]
		if !ok {
			var files []string
			if c.inFilePath != "" {
				files = []string{filepath.Join(dataDir, c.inFilePath)}
			}
			if s, err = renderSettings(c.setFlags, files); err != nil {
				return fmt.Errorf("%s: %w", c.want, err)
			}
			rendered[key] = s
		}
		in, err := os.ReadFile(filepath.Join(dataDir, c.in))
		if err != nil {
			return err
		}
		var got bytes.Buffer
		_, err = s.kubeInject("", bytes.NewReader(in), &got)
		if c.expectedError != "" {
			if err != nil && strings.Contains(strings.ToLower(err.Error()), c.expectedError) {
				errored++
				fmt.Printf("OK    %s (refused: %q)\n", c.in, c.expectedError)
			} else {
				failed++
				fmt.Printf("FAIL  %s: want an error containing %q, got %v\n", c.in, c.expectedError, err)
			}
			continue
		}
		if err != nil {
			failed++
			fmt.Printf("FAIL  %s: %v\n", c.want, err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(dataDir, c.want))
		if err != nil {
			return err
		}
		switch {
		case bytes.Equal(got.Bytes(), want):
			exact++
			fmt.Printf("OK    %s\n", c.want)
		case strings.TrimSpace(got.String()) == strings.TrimSpace(string(want)):
			trimmed++
			fmt.Printf("OK~   %s (equal up to leading/trailing whitespace, as Istio's test compares)\n", c.want)
		default:
			failed++
			fmt.Printf("FAIL  %s: differs\n", c.want)
		}
	}
	fmt.Printf("goldens: %d byte-for-byte, %d equal after trimming, %d expected errors reproduced, %d differ, %d not attempted (of %d)\n",
		exact, trimmed, errored, failed, skipped, len(cases))
	if failed > 0 {
		return fmt.Errorf("%d goldens not reproduced", failed)
	}
	return nil
}

func writeConfig(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: istio-oracle config <dir>")
	}
	s, err := renderSettings(nil, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	for name, text := range map[string]string{"mesh.yaml": s.rawMesh, "inject-config.yaml": s.rawConfig, "values.json": s.values} {
		if err := os.WriteFile(filepath.Join(args[0], name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: istio-oracle serve|config|goldens ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "config":
		err = writeConfig(os.Args[2:])
	case "goldens":
		err = goldens(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-oracle:", err)
		os.Exit(1)
	}
}
