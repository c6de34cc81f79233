// The names the shipped manifests (manifests/) give to the injector's objects. The CLI defaults and the
// in-cluster TLS adapters use these, and test/manifests.test.ts checks that the manifests agree.
export const defaultNamespace = 'sidecar-injector'
export const defaultServiceName = 'sidecar-injector'
export const defaultWebhookConfigName = 'sidecar-injector'
/** The Secret holding the self-managed CA (`ca.crt`, `ca.key`, optionally `previous-ca.crt`). */
export const defaultCaSecretName = 'sidecar-injector-ca'
/** The Secret holding a static serving certificate (`tls.crt`, `tls.key`), for installs without self-managed TLS. */
export const defaultTlsSecretName = 'sidecar-injector-tls'
/** Every webhook entry of our configuration ends with this; only those entries get our caBundle. */
export const webhookNameSuffix = 'sidecar-injector.istio.io'
