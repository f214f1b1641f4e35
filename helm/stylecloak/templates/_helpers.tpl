{{/*
Names. The full name is capped at 40 characters: KubeRay derives longer names from the RayService's
(the RayCluster gets a suffix, its pods another, the Service "<name>-serve-svc"), and every one of
them must stay within Kubernetes' 63.
*/}}
{{- define "stylecloak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "stylecloak.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stylecloak.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stylecloak.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stylecloak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stylecloak.labels" -}}
helm.sh/chart: {{ include "stylecloak.chart" . }}
{{ include "stylecloak.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Service KubeRay creates for a RayService: it routes to every pod whose Serve proxy is ready. */}}
{{- define "stylecloak.serveService" -}}
{{- printf "%s-serve-svc" (include "stylecloak.fullname" .) }}
{{- end }}

{{- define "stylecloak.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stylecloak.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "stylecloak.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "stylecloak.authSecret" -}}
{{- default (printf "%s-auth" (include "stylecloak.fullname" .)) .Values.auth.secretName }}
{{- end }}

{{/* RAY_AUTH_MODE and RAY_AUTH_TOKEN from a Secret, for operators without authOptions (ray.auth.via env). */}}
{{- define "stylecloak.rayAuthEnv" -}}
{{- if and (eq .Values.ray.auth.via "env") (eq .Values.ray.auth.mode "token") }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.ray.auth.secretName }}
      key: auth_token
{{- end }}
{{- end }}

{{/* The marker key (STYLECLOAK_MARKER_KEY) from the auth Secret: every pod that cloaks signs and checks markers with it. */}}
{{- define "stylecloak.markerKeyEnv" -}}
- name: STYLECLOAK_MARKER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "stylecloak.authSecret" . }}
      key: {{ .Values.auth.markerKeyKey }}
{{- end }}

{{- define "stylecloak.settingsConfigMap" -}}
{{- printf "%s-settings" (include "stylecloak.fullname" .) }}
{{- end }}

{{/* Fixed paths inside every container. */}}
{{- define "stylecloak.cacheDir" -}}/var/cache/stylecloak{{- end }}
{{- define "stylecloak.modelsDir" -}}/var/lib/stylecloak/models{{- end }}
{{- define "stylecloak.c2paDir" -}}/var/run/secrets/stylecloak-c2pa{{- end }}

{{/*
A value as a ConfigMap string: strings as they are, everything else as JSON (pydantic-settings reads
lists and numbers that way; Helm's own toString would print 64000000 as 6.4e+07).
*/}}
{{- define "stylecloak.envValue" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/*
The serve deploy document (the RayService's serveConfigV2). Its shape is
stylecloak.serve.config.deploy_document(); tests/helm checks the two agree for any values.
*/}}
{{- define "stylecloak.serveConfig" -}}
{{- $app := .Values.serve.app -}}
{{- $timeout := required "serve.app.request_timeout_s is required" $app.request_timeout_s -}}
proxy_location: EveryNode
http_options:
  host: 0.0.0.0
  port: {{ .Values.serve.port | toJson }}
  request_timeout_s: {{ addf $timeout 30 | toJson }}
applications:
- name: stylecloak
  route_prefix: /
  import_path: stylecloak.serve:build_app
  args:
    {{- toYaml $app | nindent 4 }}
{{- end }}

{{/*
Refuse values that render fine but could never run: a Serve worker replica asking for more GPUs or
CPUs than one GPU pod has is never placed, and the RayService would wait for it forever.
*/}}
{{- define "stylecloak.checkPlacement" -}}
{{- $worker := .Values.serve.app.worker -}}
{{- $pod := .Values.ray.gpuWorkers -}}
{{- $gpus := default 0 $worker.num_gpus | float64 -}}
{{- if gt $gpus (float64 $pod.gpus) -}}
{{- fail (printf "serve.app.worker.num_gpus (%v) exceeds ray.gpuWorkers.gpus (%v): the worker replicas could never be placed" $worker.num_gpus $pod.gpus) -}}
{{- end -}}
{{- $cpu := "" -}}
{{- with $pod.resources.limits }}{{ $cpu = toString (default "" .cpu) }}{{ end -}}
{{- if and (not $cpu) $pod.resources.requests }}{{ $cpu = toString (default "" $pod.resources.requests.cpu) }}{{ end -}}
{{- if $cpu -}}
{{- $cores := 0.0 -}}
{{- if hasSuffix "m" $cpu }}{{ $cores = divf (trimSuffix "m" $cpu | float64) 1000 }}{{ else }}{{ $cores = float64 $cpu }}{{ end -}}
{{- if gt (default 0 $worker.num_cpus | float64) $cores -}}
{{- fail (printf "serve.app.worker.num_cpus (%v) exceeds the CPUs of a GPU worker pod (%s): the worker replicas could never be placed" $worker.num_cpus $cpu) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Environment shared by every stylecloak container (Ray and the S3 worker). */}}
{{- define "stylecloak.envFrom" -}}
- configMapRef:
    name: {{ include "stylecloak.settingsConfigMap" . }}
{{- with .Values.cloudCredentials.secretName }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}

{{/*
Volumes of every stylecloak pod: the writable cache, /tmp, the weights volume, and (c2pa: true, where
cloaks are made) the C2PA credentials. Call with (dict "root" $ "c2pa" BOOL).
*/}}
{{- define "stylecloak.volumes" -}}
{{- $root := .root -}}
- name: cache
  emptyDir:
    sizeLimit: {{ $root.Values.cacheSizeLimit }}
- name: tmp
  emptyDir: {}
{{- if eq $root.Values.models.source "volume" }}
- name: models
  {{- toYaml $root.Values.models.volume | nindent 2 }}
{{- end }}
{{- if and .c2pa $root.Values.rights.c2pa.secretName }}
- name: c2pa
  secret:
    secretName: {{ $root.Values.rights.c2pa.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "stylecloak.volumeMounts" -}}
{{- $root := .root -}}
- name: cache
  mountPath: {{ include "stylecloak.cacheDir" $root }}
- name: tmp
  mountPath: /tmp
{{- if eq $root.Values.models.source "volume" }}
- name: models
  mountPath: {{ include "stylecloak.modelsDir" $root }}
  readOnly: true
{{- end }}
{{- if and .c2pa $root.Values.rights.c2pa.secretName }}
- name: c2pa
  mountPath: {{ include "stylecloak.c2paDir" $root }}
  readOnly: true
{{- end }}
{{- end }}

{{/* STYLECLOAK_RIGHTS_C2PA_* pointing at the mounted credentials (empty without rights.c2pa.secretName). */}}
{{- define "stylecloak.c2paEnv" -}}
{{- with .Values.rights.c2pa.secretName }}
- name: STYLECLOAK_RIGHTS_C2PA_CERT
  value: {{ printf "%s/%s" (include "stylecloak.c2paDir" $) $.Values.rights.c2pa.certKey | quote }}
- name: STYLECLOAK_RIGHTS_C2PA_KEY
  value: {{ printf "%s/%s" (include "stylecloak.c2paDir" $) $.Values.rights.c2pa.keyKey | quote }}
{{- end }}
{{- end }}

{{/* The init container that downloads the weights (models.source = pull) into the cache volume. */}}
{{- define "stylecloak.modelsInit" -}}
{{- if eq .Values.models.source "pull" }}
- name: models-pull
  image: {{ include "stylecloak.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["stylecloak", "models", "pull"]
  args:
    {{- range .Values.models.names }}
    - {{ . | quote }}
    {{- end }}
    {{- with .Values.models.mirror }}
    - --mirror
    - {{ . | quote }}
    {{- end }}
  envFrom:
    {{- include "stylecloak.envFrom" . | nindent 4 }}
  resources:
    {{- toYaml .Values.models.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: cache
      mountPath: {{ include "stylecloak.cacheDir" . }}
    - name: tmp
      mountPath: /tmp
{{- end }}
{{- end }}
