"""Known open-redirect payloads, for the sign-in's ?next= check in the test client and in Chromium."""

# Open-redirect payloads, each of which a browser can read as another site (or as no path of ours).
OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example/dashboard/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x1f/\\evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http:evil.example",
    "https:/evil.example",
    "//evil.example@bellhop.example",
    "/dashboard/\r\nSet-Cookie: planted=1",
    "evil.example",
]
