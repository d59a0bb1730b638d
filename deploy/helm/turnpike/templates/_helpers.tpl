{{/* Names and labels. */}}
{{- define "turnpike.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "turnpike.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "turnpike.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turnpike.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "turnpike.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "turnpike.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
turnpike-region: {{ .Values.region | quote }}
{{- end -}}

{{- define "turnpike.image" -}}
{{- printf "%s:%s" (required "image.repository is required" .Values.image.repository) (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "turnpike.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "turnpike.fullname" .)) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: the preStop wait, the drain's grace, and a margin. */}}
{{- define "turnpike.terminationGrace" -}}
{{- add .Values.drain.preStopSeconds .Values.drain.graceSeconds .Values.drain.marginSeconds -}}
{{- end -}}

{{/* The port of an ADDRESS:PORT value. */}}
{{- define "turnpike.port" -}}
{{- splitList ":" . | last -}}
{{- end -}}

{{/* Whether a tls or dtls listener (or the SFU's wss) needs the TLS secret. */}}
{{- define "turnpike.needsTls" -}}
{{- $need := and .Values.sfu.enabled .Values.sfu.signalTls -}}
{{- range .Values.listeners -}}
{{- if has .transport (list "tls" "dtls") -}}{{- $need = true -}}{{- end -}}
{{- end -}}
{{- if $need -}}true{{- end -}}
{{- end -}}

{{/* Where the pod finds its files. */}}
{{- define "turnpike.paths" -}}
config: /etc/turnpike/config/turnpike.yaml
secrets: /etc/turnpike/secrets
tls: /etc/turnpike/tls
{{- end -}}

{{/* Checks that values fit together; fails with the value to fix. */}}
{{- define "turnpike.validate" -}}
{{- $v := .Values -}}
{{- $region := required "region: set the approved region this release serves (e.g. --set region=eu-west)" $v.region -}}
{{- if and $v.regions (not (hasKey $v.regions $region)) -}}
{{- fail (printf "region %q is not in the regions catalog (%s)" $region (keys $v.regions | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if not (has $v.kind (list "DaemonSet" "Deployment")) -}}
{{- fail (printf "kind: %q; want DaemonSet or Deployment" $v.kind) -}}
{{- end -}}
{{- if and (include "turnpike.needsTls" .) (not $v.tls.secretName) -}}
{{- fail "tls.secretName: tls and dtls listeners and sfu.signalTls need a kubernetes.io/tls Secret" -}}
{{- end -}}
{{- if not $v.listeners -}}
{{- fail "listeners: at least one {transport, port}" -}}
{{- end -}}
{{- if not (has $v.tls.reloader.method (list "api" "sighup")) -}}
{{- fail (printf "tls.reloader.method: %q; want api or sighup" $v.tls.reloader.method) -}}
{{- end -}}
{{- end -}}

{{/* turnpike.yaml (docs/configuration.md). Addresses are the pod's: ${POD_IP}, and behind a 1:1 NAT
     ${TURNPIKE_EXTERNAL_ADDRESS}; secrets come from the Secret's files and ${TURNPIKE_NONCE_SECRET}. */}}
{{- define "turnpike.config" -}}
{{- include "turnpike.validate" . -}}
{{- $v := .Values -}}
{{- $paths := include "turnpike.paths" . | fromYaml -}}
{{- $ip := "${POD_IP}" -}}
{{- $listen := list -}}
{{- range $v.listeners -}}
{{- $listen = append $listen (dict "transport" .transport "address" $ip "port" .port) -}}
{{- end -}}
{{- $relay := dict "addresses" (list $ip) "port_range" $v.relay.portRange -}}
{{- if $v.relay.externalAddresses -}}
{{- $_ := set $relay "external_addresses" (list "${TURNPIKE_EXTERNAL_ADDRESS}") -}}
{{- end -}}
{{- $auth := dict "realm" $v.auth.realm "nonce_lifetime" $v.auth.nonceLifetime "rest_secrets_file" (printf "%s/rest-secrets" $paths.secrets) "nonce_secret" "${TURNPIKE_NONCE_SECRET}" -}}
{{- $admin := dict "listen" (printf "0.0.0.0:%v" $v.admin.port) "token_file" (printf "%s/admin-token" $paths.secrets) -}}
{{- $drain := dict "grace_seconds" $v.drain.graceSeconds -}}
{{- if $v.drain.alternateUrls -}}{{- $_ := set $drain "alternate_urls" $v.drain.alternateUrls -}}{{- end -}}
{{- if $v.drain.signalUrl -}}{{- $_ := set $drain "signal_url" $v.drain.signalUrl -}}{{- end -}}
{{- $cfg := dict "region" $v.region "listen" $listen "relay" $relay "auth" $auth "admin" $admin "drain" $drain "peers" $v.peers "log" $v.log "metrics" $v.metrics -}}
{{- if include "turnpike.needsTls" . -}}
{{- $_ := set $cfg "tls" (dict "cert" (printf "%s/tls.crt" $paths.tls) "key" (printf "%s/tls.key" $paths.tls)) -}}
{{- end -}}
{{- range $key := list "limits" "sites" "quality" "regions" "residency" -}}
{{- if index $v $key -}}{{- $_ := set $cfg $key (index $v $key) -}}{{- end -}}
{{- end -}}
{{- if $v.sfu.enabled -}}
{{- $announce := $v.sfu.mediaAnnounce -}}
{{- if not $announce -}}
{{- $announce = list (ternary "${TURNPIKE_EXTERNAL_ADDRESS}" $ip (not (empty $v.relay.externalAddresses))) -}}
{{- end -}}
{{- $_ := set $cfg "sfu" (dict "signal_listen" $v.sfu.signalListen "signal_tls" $v.sfu.signalTls "media_listen" $v.sfu.mediaListen "media_announce" $announce "token_keys_file" (printf "%s/sfu-token-keys" $paths.secrets)) -}}
{{- end -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy $v.extraConfig) -}}
# Rendered by the turnpike Helm chart from its values; see docs/configuration.md.
{{ toYaml $cfg }}
{{- end -}}

{{/* A secret value: the given one, else the one in the existing Secret (upgrades), else random. */}}
{{- define "turnpike.secretValue" -}}
{{- $given := index . 0 -}}{{- $existing := index . 1 -}}{{- $key := index . 2 -}}
{{- if $given -}}
{{- $given -}}
{{- else if and $existing (hasKey $existing.data $key) -}}
{{- index $existing.data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
