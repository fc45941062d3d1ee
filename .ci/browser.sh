# Sourced by .ci/run: Debian's Chromium and ChromeDriver for the browser tests (tests/browser),
# which then must run (ECUSIM_REQUIRE_BROWSER: a missing browser fails them instead of skipping).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export ECUSIM_REQUIRE_BROWSER=1
echo "$(chromium --version 2>/dev/null | head -n 1) and $(chromedriver --version | head -n 1) for the browser tests"
