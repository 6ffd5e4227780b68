{{/*
The application's configuration file (/etc/marketdata/config.yaml), built from .Values.config
(the `marketData` document of config.example.yaml) plus what the chart owns:

- service: the interfaces and ports the containers listen on (host, port, metricsHost,
  metricsPort) and, with signalr.enableAuthentication, apiKeys from the Secret;
- kafka: bootstrapServers and replicationFactor from .Values.kafka;
- exchanges.<name>.apiKey / secretKey: ${<NAME>_API_KEY} / ${<NAME>_SECRET} references, filled
  from the Secret by the producer's environment (an unset key means public data only);
  with the simulator on, Kraken's endpoints point at the simulator's Service;
- simulator: from .Values.simulator;
- processors.dataDir: under /tmp, the only writable path (read-only root filesystem).

Secrets never enter the ConfigMap: only ${VAR} references do.
*/}}

{{- define "crypton-marketdata.apiPort" -}}5001{{- end }}
{{- define "crypton-marketdata.metricsPort" -}}9000{{- end }}
{{- define "crypton-marketdata.simulatorPort" -}}8080{{- end }}
{{- define "crypton-marketdata.configDir" -}}/etc/marketdata{{- end }}

{{- define "crypton-marketdata.appConfig" -}}
{{- $ctx := . }}
{{- $config := deepCopy (.Values.config | default dict) }}

{{- $service := deepCopy ($config.service | default dict) }}
{{- $_ := set $service "host" "0.0.0.0" }}
{{- $_ = set $service "port" (int (include "crypton-marketdata.apiPort" .)) }}
{{- $_ = set $service "metricsHost" "0.0.0.0" }}
{{- $_ = set $service "metricsPort" (int (include "crypton-marketdata.metricsPort" .)) }}
{{- if include "crypton-marketdata.authEnabled" . }}
{{- $_ = set $service "apiKeys" (list "${MARKETDATA_API_KEY}") }}
{{- end }}
{{- $_ = set $config "service" $service }}

{{- $kafka := deepCopy ($config.kafka | default dict) }}
{{- $bootstrap := required "kafka.bootstrapServers is required: the chart does not bundle Kafka; name your cluster's bootstrap servers (host:port[,host:port])" .Values.kafka.bootstrapServers }}
{{- $_ = set $kafka "bootstrapServers" $bootstrap }}
{{- $_ = set $kafka "replicationFactor" (int .Values.kafka.replicationFactor) }}
{{- $_ = set $config "kafka" $kafka }}

{{- $exchanges := dict }}
{{- range $name, $exchange := ($config.exchanges | default dict) }}
{{- $settings := deepCopy ($exchange | default dict) }}
{{- $_ := set $settings "apiKey" (printf "${%s}" (include "crypton-marketdata.keyVariable" (dict "exchange" $name "key" "apiKey"))) }}
{{- $_ = set $settings "secretKey" (printf "${%s}" (include "crypton-marketdata.keyVariable" (dict "exchange" $name "key" "secretKey"))) }}
{{- if and $ctx.Values.simulator.enabled (eq $name "kraken") }}
{{- $simulator := printf "%s:%s" (include "crypton-marketdata.componentName" (dict "ctx" $ctx "component" "simulator")) (include "crypton-marketdata.simulatorPort" $ctx) }}
{{- $_ = set $settings "wsUrl" (printf "ws://%s/v2" $simulator) }}
{{- $_ = set $settings "wsAuthUrl" (printf "ws://%s/v2-auth" $simulator) }}
{{- $_ = set $settings "restUrl" (printf "http://%s" $simulator) }}
{{- end }}
{{- $_ = set $exchanges $name $settings }}
{{- end }}
{{- $_ = set $config "exchanges" $exchanges }}

{{- $sim := .Values.simulator }}
{{- $_ = set $config "simulator" (dict
      "enabled" $sim.enabled
      "host" "0.0.0.0"
      "port" (int (include "crypton-marketdata.simulatorPort" .))
      "seed" (int $sim.seed)
      "eventsPerSecond" $sim.eventsPerSecond
      "symbols" $sim.symbols
      "faults" $sim.faults) }}

{{- $processors := deepCopy ($config.processors | default dict) }}
{{- $_ = set $processors "dataDir" "/tmp/marketdata/processors" }}
{{- $_ = set $config "processors" $processors }}

{{- toYaml (dict "marketData" $config) }}
{{- end }}
