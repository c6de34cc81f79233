// Istio's own injection webhook (pkg/kube/inject.Webhook, the handler istiod serves on /inject),
// served over TLS on its own, as the second baseline of `make bench`: what the reference
// implementation costs for the same reviews on the same machine.
//
// The injection config is what the istio-discovery chart puts in the istio-sidecar-injector
// ConfigMap, built here from the chart files of the pinned module in the Go module cache (passed as
// --chart): the sidecar template, and the values the ConfigMap picks from the chart's defaults.
// https://github.com/istio/istio/blob/master/manifests/charts/istio-control/istio-discovery/templates/istiod-injector-configmap.yaml
//
//	istio-webhook --port N --cert tls.crt --key tls.key --chart <module>/manifests/charts/istio-control/istio-discovery
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
)

// staticWatcher hands the webhook one config and never changes it.
type staticWatcher struct {
	config *inject.Config
	values string
}

func (w staticWatcher) SetHandler(func(*inject.Config, string) error) {}
func (w staticWatcher) Run(<-chan struct{})                          {}
func (w staticWatcher) Get() (*inject.Config, string, error)         { return w.config, w.values, nil }

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// injectorConfig mirrors istiod-injector-configmap.yaml for the chart's defaults.
func injectorConfig(chart, hub, tag string) (*inject.Config, string, error) {
	raw, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return nil, "", err
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		return nil, "", err
	}
	defaults, ok := top["_internal_defaults_do_not_set"].(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("%s: no _internal_defaults_do_not_set", chart)
	}
	global, _ := defaults["global"].(map[string]any)
	if global == nil {
		return nil, "", fmt.Errorf("%s: no global values", chart)
	}
	global["hub"], global["tag"] = hub, tag
	gateways, _ := defaults["gateways"].(map[string]any)
	values := pick(defaults, "global", "sidecarInjectorWebhook", "revision")
	values["pilot"] = pick(defaults, "cni", "env")
	values["gateways"] = pick(gateways, "securityContext", "seccompProfile")
	valuesJSON, err := yaml.Marshal(values)
	if err != nil {
		return nil, "", err
	}
	valuesJSON, err = yaml.YAMLToJSON(valuesJSON)
	if err != nil {
		return nil, "", err
	}

	templates := map[string]string{}
	for name, file := range map[string]string{"sidecar": "injection-template.yaml", "gateway": "gateway-injection-template.yaml"} {
		b, err := os.ReadFile(filepath.Join(chart, "files", file))
		if err != nil {
			return nil, "", err
		}
		templates[name] = string(b)
	}
	config := map[string]any{
		"defaultTemplates":     []string{"sidecar"},
		"policy":               "enabled",
		"alwaysInjectSelector": []any{},
		"neverInjectSelector":  []any{},
		"injectedAnnotations":  map[string]string{},
		"templates":            templates,
	}
	configYAML, err := yaml.Marshal(config)
	if err != nil {
		return nil, "", err
	}
	parsed, err := inject.UnmarshalConfig(configYAML)
	if err != nil {
		return nil, "", err
	}
	return &parsed, string(valuesJSON), nil
}

func main() {
	port := flag.Int("port", 9443, "port to listen on (127.0.0.1)")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	certFile := flag.String("cert", "", "serving certificate (PEM)")
	keyFile := flag.String("key", "", "private key (PEM)")
	chart := flag.String("chart", "", "the istio-discovery chart directory of the istio module")
	hub := flag.String("hub", "docker.io/istio", "image hub for the rendered proxy")
	tag := flag.String("tag", "1.28.0", "image tag for the rendered proxy")
	flag.Parse()
	if *certFile == "" || *keyFile == "" || *chart == "" {
		fmt.Fprintln(os.Stderr, "usage: istio-webhook --port N --cert FILE --key FILE --chart DIR")
		os.Exit(2)
	}

	config, values, err := injectorConfig(*chart, *hub, *tag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio-webhook: injection config: %v\n", err)
		os.Exit(1)
	}
	meshConfig := mesh.DefaultMeshConfig()
	env := &model.Environment{Watcher: meshwatcher.NewTestWatcher(meshConfig)}
	env.SetPushContext(&model.PushContext{})
	mux := http.NewServeMux()
	if _, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      staticWatcher{config: config, values: values},
		Env:          env,
		Mux:          mux,
		MultiCluster: multicluster.NewFakeController(),
	}); err != nil {
		fmt.Fprintf(os.Stderr, "istio-webhook: %v\n", err)
		os.Exit(1)
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) })

	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio-webhook: %v\n", err)
		os.Exit(1)
	}
	// As istiod serves its webhook: TLS 1.2+, HTTP/1.1 to the API server.
	server := &http.Server{
		Addr:              fmt.Sprintf("%s:%d", *host, *port),
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}},
	}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = server.Close()
	}()
	if err := server.ListenAndServeTLS("", ""); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "istio-webhook: %v\n", err)
		os.Exit(1)
	}
}
