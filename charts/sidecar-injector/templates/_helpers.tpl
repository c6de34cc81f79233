{{/* The base name of every object: sidecar-injector, or sidecar-injector-<revision> (two revisions side by side). */}}
{{- define "sidecar-injector.name" -}}
{{- if .Values.revision -}}sidecar-injector-{{ .Values.revision }}{{- else -}}sidecar-injector{{- end -}}
{{- end -}}

{{/* Labels on every object (as manifests/ sets them), plus the revision. */}}
{{- define "sidecar-injector.labels" -}}
app.kubernetes.io/part-of: sidecar-injector
{{- if .Values.revision }}
istio.io/rev: {{ .Values.revision | quote }}
{{- end }}
{{- end -}}

{{/* The injector's pods: selected by name and revision. */}}
{{- define "sidecar-injector.selectorLabels" -}}
app.kubernetes.io/name: sidecar-injector
{{- if .Values.revision }}
istio.io/rev: {{ .Values.revision | quote }}
{{- end }}
{{- end -}}

{{/* The Deployment, its pods and the Service: both sets. */}}
{{- define "sidecar-injector.workloadLabels" -}}
app.kubernetes.io/name: sidecar-injector
{{ include "sidecar-injector.labels" . }}
{{- end -}}

{{/* Where a Secret-held serving certificate is mounted (src/install/render.ts staticTlsDir). */}}
{{- define "sidecar-injector.tlsDir" -}}/var/run/secrets/sidecar-injector/tls{{- end -}}

{{/* The Secret holding the serving certificate in static and certManager modes. */}}
{{- define "sidecar-injector.tlsSecretName" -}}
{{- if and (eq .Values.tls.mode "static") .Values.tls.static.existingSecret -}}
{{ .Values.tls.static.existingSecret }}
{{- else -}}
{{ include "sidecar-injector.name" . }}-tls
{{- end -}}
{{- end -}}

{{/* Namespaces no webhook entry selects: the injector's own first, then config.ignoredNamespaces. */}}
{{- define "sidecar-injector.excludedNamespaces" -}}
{{- $list := list .Release.Namespace -}}
{{- range .Values.config.ignoredNamespaces -}}
{{- if ne . $.Release.Namespace -}}{{- $list = append $list . -}}{{- end -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* Fails the render on settings that cannot work, with the value to fix. */}}
{{- define "sidecar-injector.validate" -}}
{{- $modes := list "selfManaged" "static" "certManager" -}}
{{- if not (has .Values.tls.mode $modes) -}}
{{- fail (printf "tls.mode must be one of selfManaged, static, certManager; got %q" .Values.tls.mode) -}}
{{- end -}}
{{- if not (has .Values.failurePolicy (list "Fail" "Ignore")) -}}
{{- fail (printf "failurePolicy must be Fail or Ignore; got %q" .Values.failurePolicy) -}}
{{- end -}}
{{- if and .Values.revision (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .Values.revision)) -}}
{{- fail (printf "revision must be a DNS label (lower-case letters, digits, '-'); got %q" .Values.revision) -}}
{{- end -}}
{{- if eq .Values.revision "default" -}}
{{- fail "revision: leave it empty for the default revision (istio.io/rev=default selects it)" -}}
{{- end -}}
{{- if eq .Values.tls.mode "static" -}}
{{- if not .Values.tls.caBundle -}}
{{- fail "tls.mode static needs tls.caBundle, the PEM CA that signed the certificate: --set-file tls.caBundle=ca.crt" -}}
{{- end -}}
{{- if and (not .Values.tls.static.existingSecret) (not (and .Values.tls.static.cert .Values.tls.static.key)) -}}
{{- fail "tls.mode static needs tls.static.existingSecret, or tls.static.cert and tls.static.key (--set-file)" -}}
{{- end -}}
{{- end -}}
{{- $metricsPort := .Values.metrics.port -}}
{{- if not (and (regexMatch "^[0-9]{1,5}$" (toString $metricsPort)) (le (int $metricsPort) 65535)) -}}
{{- fail (printf "metrics.port must be an integer from 0 (no metrics listener) to 65535; got %v" $metricsPort) -}}
{{- end -}}
{{- if eq (int $metricsPort) 9443 -}}
{{- fail "metrics.port must differ from the webhook port (9443): the webhook port serves admission and probes only" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (eq (int $metricsPort) 0) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.port (0 turns the metrics listener off)" -}}
{{- end -}}
{{- if and .Values.webhook.url (not (hasPrefix "https://" .Values.webhook.url)) -}}
{{- fail (printf "webhook.url must be an https URL; got %q" .Values.webhook.url) -}}
{{- end -}}
{{- end -}}
