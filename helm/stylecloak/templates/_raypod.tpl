{{/* The pod template of the Ray head and of the GPU worker group (role: head | worker). */}}
{{- define "stylecloak.rayPod" -}}
{{- $root := .root -}}
{{- $group := .group -}}
{{- $app := $root.Values.serve.app -}}
metadata:
  labels:
    {{- include "stylecloak.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: ray
    {{- with $root.Values.commonLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A settings change restarts Ray through a RayService upgrade (new cluster, then traffic moves).
    checksum/settings: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $root.Values.ray.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "stylecloak.serviceAccountName" $root }}
  # Only the head needs an API token: KubeRay's autoscaler sidecar runs there.
  automountServiceAccountToken: {{ eq .role "head" }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- with $group.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $group.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $group.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (include "stylecloak.modelsInit" $root | trim) }}
  initContainers:
    {{- . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ printf "ray-%s" .role }}
      image: {{ include "stylecloak.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      # No probes here on purpose: KubeRay adds its own (raylet and GCS health, and on RayService
      # pods the Serve proxy's readiness, which decides who receives traffic).
      ports:
        {{- if eq .role "head" }}
        - name: gcs-server
          containerPort: 6379
        - name: dashboard
          containerPort: 8265
        - name: client
          containerPort: 10001
        {{- end }}
        - name: serve
          containerPort: {{ $root.Values.serve.port }}
        - name: metrics
          containerPort: 8080
      envFrom:
        {{- include "stylecloak.envFrom" $root | nindent 8 }}
      {{- $tokenEnv := and (not $app.tokens_file) (not $app.allow_anonymous) }}
      env:
        {{- include "stylecloak.c2paEnv" $root | nindent 8 }}
        {{- include "stylecloak.rayAuthEnv" $root | nindent 8 }}
        {{- include "stylecloak.markerKeyEnv" $root | nindent 8 }}
        {{- if $tokenEnv }}
        # No tokens file: the API accepts the one token in auth.clientTokenKey.
        - name: STYLECLOAK_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "stylecloak.authSecret" $root }}
              key: {{ $root.Values.auth.clientTokenKey }}
        {{- end }}
        {{- with $root.Values.ray.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources:
        {{- $resources := deepCopy (default dict $group.resources) }}
        {{- if gt (int .gpus) 0 }}
        {{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" (int .gpus)) (default dict $resources.requests)) }}
        {{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" (int .gpus)) (default dict $resources.limits)) }}
        {{- end }}
        {{- toYaml $resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.ray.containerSecurityContext | nindent 8 }}
      volumeMounts:
        {{- include "stylecloak.volumeMounts" (dict "root" $root "c2pa" true) | nindent 8 }}
        - name: dshm
          mountPath: /dev/shm
        {{- if $app.tokens_file }}
        - name: api-tokens
          mountPath: {{ dir $app.tokens_file }}
          readOnly: true
        {{- end }}
  volumes:
    {{- include "stylecloak.volumes" (dict "root" $root "c2pa" true) | nindent 4 }}
    # Ray's object store lives in shared memory; the container default (64 MiB) is far too small.
    - name: dshm
      emptyDir:
        medium: Memory
        {{- with $root.Values.ray.sharedMemory }}
        sizeLimit: {{ . }}
        {{- end }}
    {{- if $app.tokens_file }}
    # A directory mount (not subPath), so a rotated Secret reaches the app without a restart.
    - name: api-tokens
      secret:
        secretName: {{ include "stylecloak.authSecret" $root }}
        defaultMode: 0440
        items:
          - key: {{ $root.Values.auth.tokensKey }}
            path: {{ base $app.tokens_file }}
    {{- end }}
{{- end }}
