{{/* Chart name. */}}
{{- define "dbrecords.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: at most 50 characters, so that it and its
longest suffix ("-schema-apply", 13) fit the 63 of a DNS label. */}}
{{- define "dbrecords.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The image of the server, and of the schema Job. */}}
{{- define "dbrecords.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "dbrecords.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dbrecords.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "dbrecords.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbrecords.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Secret holding the DSN. */}}
{{- define "dbrecords.secretName" -}}
{{- if .Values.dsn.value -}}
{{- include "dbrecords.fullname" . -}}
{{- else if .Values.dsn.existingSecret -}}
{{- .Values.dsn.existingSecret -}}
{{- else -}}
{{- fail "set dsn.existingSecret to a Secret holding the DSN, or dsn.value" -}}
{{- end -}}
{{- end -}}

{{- define "dbrecords.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dbrecords.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The memory limit in MiB, from expectedNames (see values.yaml); signed
zones hold their signatures too. */}}
{{- define "dbrecords.memoryLimitMiB" -}}
{{- $perMillion := 120 -}}
{{- if .Values.dnssec.keys }}{{ $perMillion = add $perMillion .Values.dnssec.perMillionMiB }}{{ end -}}
{{- add 128 (div (mul (int64 .Values.expectedNames) $perMillion) 1000000) -}}
{{- end -}}

{{/* The Corefile, built from values. */}}
{{- define "dbrecords.corefile" -}}
{{- $v := .Values.dbrecords -}}
{{- if not $v.zones }}{{ fail "dbrecords.zones must list at least one zone" }}{{ end -}}
{{- $port := .Values.dnsPort }}
{{- range $i, $z := $v.zones }}{{ if $i }} {{ end }}{{ $z }}:{{ $port }}{{ end }} {
    dbrecords {
        dsn_file /etc/dbrecords/dsn
        table {{ $v.table }}
        refresh {{ $v.refresh }}
        reconcile {{ $v.reconcile }}
        ttl {{ $v.ttl }}
        negative_ttl {{ $v.negativeTTL }}
        {{- if $v.ns }}
        ns {{ join " " $v.ns }}
        {{- end }}
        {{- if $v.fallthrough }}
        fallthrough
        {{- end }}
        {{- if $v.ixfrJournal }}
        ixfr_journal {{ $v.ixfrJournal }}
        {{- end }}
        {{- with $v.galeraNodes }}
        galera_nodes {{ join " " . }}
        {{- end }}
        {{- if .Values.dnssec.keys }}
        {{- if not .Values.dnssec.keySecret }}{{ fail "dnssec.keys needs dnssec.keySecret, the Secret holding them" }}{{ end }}
        key file{{ range .Values.dnssec.keys }} /etc/dbrecords-dnssec/{{ . }}{{ end }}
        {{- end }}
        {{- if .Values.snapshot.enabled }}
        snapshot /var/lib/dbrecords {{ .Values.snapshot.every }}
        {{- end }}
        {{- with .Values.updates }}
        {{- if .enabled }}
        {{- if not .allow }}{{ fail "updates.allow must list at least one rule (key, names, types)" }}{{ end }}
        update {
            dsn_file /etc/dbrecords-writer/dsn
            {{- range .allow }}
            {{- if not (and .key .names .types) }}{{ fail "every updates.allow rule needs key, names and types" }}{{ end }}
            allow {{ .key }} {{ join " " .names }} {{ join " " .types }}
            {{- end }}
            max_records {{ .maxRecords }}
            rate {{ .rate }}
        }
        {{- end }}
        {{- end }}
    }
    {{- $xfrTSIG := and .Values.transfer.to .Values.transfer.tsig.existingSecret }}
    {{- if or $xfrTSIG .Values.updates.enabled }}
    tsig {
        {{- if $xfrTSIG }}
        secrets /etc/dbrecords-tsig/tsig.conf
        {{- with .Values.transfer.tsig.require }}
        require {{ join " " . }}
        {{- end }}
        {{- end }}
        {{- if .Values.updates.enabled }}
        secrets /etc/dbrecords-update-tsig/tsig.conf
        {{- end }}
    }
    {{- end }}
    {{- with .Values.transfer }}
    {{- if .to }}
    transfer {
        to {{ join " " .to }}
    }
    {{- end }}
    {{- end }}
    {{- range .Values.extraPlugins }}
    {{ . }}
    {{- end }}
    {{- with .Values.bufsize }}
    bufsize {{ . }}
    {{- end }}
    prometheus :{{ .Values.metricsPort }}
    health :{{ .Values.healthPort }} {
        lameduck {{ .Values.lameduck }}
    }
    ready :{{ .Values.readyPort }}
    reload
}
{{- end -}}
