{{/*
What every part's pod shares. Each takes (dict "ctx" $ "part" .Values.<part> ...).
*/}}

{{/* Pod annotations: a config checksum (a changed ConfigMap rolls the pods) and the part's own. */}}
{{- define "crypton-marketdata.podAnnotations" -}}
checksum/config: {{ include "crypton-marketdata.appConfig" .ctx | sha256sum }}
{{- with .part.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod-level fields every part shares. */}}
{{- define "crypton-marketdata.podCommon" -}}
{{- $values := .ctx.Values -}}
serviceAccountName: {{ include "crypton-marketdata.serviceAccountName" .ctx }}
automountServiceAccountToken: {{ $values.serviceAccount.automountServiceAccountToken }}
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- with .part.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .part.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .part.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .part.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .part.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "crypton-marketdata.fullname" .ctx }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $values.tmpVolume.sizeLimit }}
{{- end }}

{{/* The container fields every part shares (image, security context, mounts). */}}
{{- define "crypton-marketdata.containerCommon" -}}
image: {{ include "crypton-marketdata.image" .ctx | quote }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .ctx.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: {{ include "crypton-marketdata.configDir" .ctx }}
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- with .part.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* `--config <file>`: the CLI's flag, ahead of the subcommand. */}}
{{- define "crypton-marketdata.configArgs" -}}
- --config
- {{ include "crypton-marketdata.configDir" .ctx }}/config.yaml
{{- end }}

{{/*
Startup, liveness and readiness probes on the part's health endpoints:
(dict "port" "<port name>" "probes" .Values.<part>.probes).
*/}}
{{- define "crypton-marketdata.probes" -}}
startupProbe:
  httpGet:
    path: /health/live
    port: {{ .port }}
  {{- toYaml .probes.startup | nindent 2 }}
livenessProbe:
  httpGet:
    path: /health/live
    port: {{ .port }}
  {{- toYaml .probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /health/ready
    port: {{ .port }}
  {{- toYaml .probes.readiness | nindent 2 }}
{{- end }}

{{/*
Environment shared by every part, then the part's own extra variables. With authentication on,
the configuration names ${MARKETDATA_API_KEY} and every part validates the whole file at start,
so every part gets it (only the API uses it).
*/}}
{{- define "crypton-marketdata.env" -}}
- name: HOME
  value: /tmp
{{- if include "crypton-marketdata.authEnabled" .ctx }}
- name: MARKETDATA_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "crypton-marketdata.secretName" .ctx }}
      key: api-key
{{- end }}
{{- with .part.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
