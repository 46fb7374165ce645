# lb-controlplane image. Build from the repository root (the build needs protos/, Directory.*.props):
#   docker build -f deploy/docker/controlplane.Dockerfile -t lb-controlplane:0.1.0 .
# Not built on the development machine (no container engine there): kept deliberately simple.
# Base images: the official .NET SDK and runtime images, referenced by name and tag.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish controlplane/ControlPlane -c Release -o /out -p:UseAppHost=true

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /out/ /app/
# The images' non-root "app" user (UID 1654); the Kubernetes manifests run as that UID.
USER $APP_UID
# 7400: gRPC over TLS (--listen https://0.0.0.0:7400 plus a --san per name clients dial; the CA
# and serving certificate are made in DATA/tls on first start); 7401: /healthz, /readyz and
# /metrics in plain HTTP (--admin). The arguments come from the Kubernetes manifest.
EXPOSE 7400 7401
ENTRYPOINT ["/app/lb-controlplane"]
