# lbctl image. Build from the repository root (the build needs protos/, Directory.*.props):
#   docker build -f deploy/docker/lbctl.Dockerfile -t lbctl:0.1.0 .
# Not built on the development machine (no container engine there): kept deliberately simple.
# Base images: the official .NET SDK and runtime images, referenced by name and tag.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish cli/Lbctl -c Release -o /out -p:UseAppHost=true

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /out/ /app/
# The images' non-root "app" user (UID 1654); the Kubernetes manifests run as that UID.
USER $APP_UID
ENTRYPOINT ["/app/lbctl"]
