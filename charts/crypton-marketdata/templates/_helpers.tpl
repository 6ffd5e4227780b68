{{/*
Names, labels and the image: the shapes every template shares.
Helpers that need the root context and a part take (dict "ctx" $ "component" "api" ...).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "crypton-marketdata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-qualified base name (63 characters at most, the DNS label limit); a release whose
name already contains the chart name is not repeated.
*/}}
{{- define "crypton-marketdata.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one part's objects: <fullname>-<component>[-<exchange>]. */}}
{{- define "crypton-marketdata.componentName" -}}
{{- $base := include "crypton-marketdata.fullname" .ctx | trunc 36 | trimSuffix "-" }}
{{- if .exchange }}
{{- printf "%s-%s-%s" $base .component .exchange | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" $base .component | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "crypton-marketdata.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crypton-marketdata.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one part: never change them on upgrade (selectors are immutable). */}}
{{- define "crypton-marketdata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crypton-marketdata.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if .exchange }}
marketdata.crypton.io/exchange: {{ .exchange }}
{{- end }}
{{- end }}

{{/* The standard labels of every object of one part. */}}
{{- define "crypton-marketdata.labels" -}}
helm.sh/chart: {{ include "crypton-marketdata.chart" .ctx }}
{{ include "crypton-marketdata.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: crypton-marketdata
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* registry/repository:tag, or @digest when one is given; the tag defaults to appVersion. */}}
{{- define "crypton-marketdata.image" -}}
{{- $image := .Values.image }}
{{- $repository := $image.repository }}
{{- if $image.registry }}
{{- $repository = printf "%s/%s" $image.registry $image.repository }}
{{- end }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "crypton-marketdata.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crypton-marketdata.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The enabled exchanges, as a JSON list of names (a producer Deployment each). */}}
{{- define "crypton-marketdata.exchanges" -}}
{{- $names := list }}
{{- range $name, $exchange := .Values.config.exchanges }}
{{- if or (not (hasKey $exchange "enabled")) $exchange.enabled }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
Secrets. The Secret is the existing one named by secrets.existingSecret, or the one the chart
creates from secrets.* when any value is given; "" when there is none.
*/}}
{{- define "crypton-marketdata.createSecret" -}}
{{- $create := false }}
{{- if not .Values.secrets.existingSecret }}
{{- if .Values.secrets.apiKey }}{{ $create = true }}{{ end }}
{{- range $name, $keys := .Values.secrets.exchanges }}
{{- if or $keys.apiKey $keys.secretKey }}{{ $create = true }}{{ end }}
{{- end }}
{{- end }}
{{- if $create }}true{{ end }}
{{- end }}

{{- define "crypton-marketdata.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if include "crypton-marketdata.createSecret" . }}
{{- include "crypton-marketdata.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}
{{- end }}

{{/* The environment variable an exchange key is read from: KRAKEN_API_KEY, KRAKEN_SECRET. */}}
{{- define "crypton-marketdata.keyVariable" -}}
{{- printf "%s_%s" (upper .exchange) (ternary "API_KEY" "SECRET" (eq .key "apiKey")) }}
{{- end }}

{{/* The Secret's key holding an exchange key: kraken-api-key, kraken-secret-key. */}}
{{- define "crypton-marketdata.secretKey" -}}
{{- printf "%s-%s" .exchange (ternary "api-key" "secret-key" (eq .key "apiKey")) }}
{{- end }}

{{- define "crypton-marketdata.authEnabled" -}}
{{- if and .Values.config.signalr .Values.config.signalr.enableAuthentication }}true{{ end }}
{{- end }}
