"""The page shell shared by the dashboard and its login form: layout, style, security headers.

The Content-Security-Policy allows this module's one style block (by its hash), form posts to
ourselves and, on the dashboard only, the one script below (by its hash): it reloads the
waiting list's rows every 30 seconds from the same page with ``?rows=1``.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.responses import HTMLResponse

from bot.web.html import Safe, render

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1f2937;background:#f8fafc}
header{display:flex;align-items:center;gap:1rem;padding:.7rem 1.5rem;background:#1e293b;color:#fff}
header h1{font-size:1.15rem;margin:0;flex:1}header form{margin:0}
main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem 3rem}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:1rem 1.2rem;
margin:1rem 0}
h2{font-size:1.05rem;margin:.1rem 0 .7rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e2e8f0;vertical-align:top}
th{background:#f1f5f9;font-weight:600}
tr.overdue td{background:#fef2f2}tr.overdue td:first-child{border-left:4px solid #dc2626}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;
background:#dc2626;color:#fff}
.muted{color:#64748b}.notice{background:#fffbeb;border-color:#f59e0b}
.error{background:#fef2f2;border-color:#dc2626;color:#991b1b}
.kpis{display:flex;flex-wrap:wrap;gap:1rem}
.kpi{flex:1 1 120px;border:1px solid #e2e8f0;border-radius:8px;padding:.6rem .8rem}
.kpi b{display:block;font-size:1.4rem}
.chart{max-width:100%;height:auto}.chart .grid{stroke:#e2e8f0}
.chart .axis{font-size:11px;fill:#64748b}.chart .empty{font-size:14px;fill:#64748b}
.login{max-width:380px;margin:4rem auto}
.login input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;margin:.4rem 0 .8rem}
button{padding:.4rem .9rem;border-radius:6px;border:1px solid #334155;background:#334155;
color:#fff;cursor:pointer}
header button{background:transparent;border-color:#94a3b8}
form.since{display:flex;gap:.5rem;align-items:center}
details summary{cursor:pointer;color:#475569}
a.row-link{color:inherit;font-weight:600}
.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.4rem 0 .8rem}
.filters label{display:flex;flex-direction:column;font-size:.8rem;color:#475569}
.pager{display:flex;gap:1rem;margin:.6rem 0}
.transcript .team td{background:#f0f9ff}.deleted{text-decoration:line-through;color:#94a3b8}
.actions form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.who{font-size:1.05rem}
"""
# The dashboard's row refresh: fetch the same URL with rows=1, swap the section's markup (our
# own escaped HTML), keep the scroll position; a failed fetch keeps the old rows.
SCRIPT = """(function(){var s=document.getElementById("waiting");if(!s)return;
setInterval(function(){var u=new URL(location.href);u.searchParams.set("rows","1");
fetch(u,{credentials:"same-origin"}).then(function(r){return r.ok?r.text():null})
.then(function(t){if(t!==null)s.innerHTML=t}).catch(function(){})},30000)})();"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Only the script above, and fetches back to ourselves for it.
SCRIPT_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": f"{_CSP}; script-src 'sha256-{_SCRIPT_HASH}'; connect-src 'self'",
}

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
$refresh<title>$title</title>
<style>$style</style>
</head>
<body>
<header><h1>Nudgebot</h1>$logout</header>
<main>
$body
</main>
$script</body>
</html>
"""

_LOGOUT = """<form method="post" action="/logout"><button type="submit">Log out</button></form>"""

_LOGIN = """<section class="login">
<h2>Sign in to the dashboard</h2>
$error<form method="post" action="/login">
<label for="token">API token (<code>NUDGEBOT_API_TOKEN</code>)</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p class="muted">Scripts can send the token as <code>Authorization: Bearer …</code> instead.</p>
</section>"""


def page(
    title: str,
    body: Safe,
    *,
    status: int = 200,
    refresh: int | None = None,
    logout: bool = False,
    script: bool = False,
) -> HTMLResponse:
    html = render(
        _SHELL,
        title=title,
        style=Safe(STYLE),
        refresh=Safe(f'<meta http-equiv="refresh" content="{int(refresh)}">\n')
        if refresh
        else Safe(""),
        logout=Safe(_LOGOUT) if logout else Safe(""),
        body=body,
        script=Safe(f"<script>{SCRIPT}</script>\n") if script else Safe(""),
    )
    headers = SCRIPT_HEADERS if script else HEADERS
    return HTMLResponse(html, status_code=status, headers=headers)


def login_page(error: str | None = None, *, status: int = 200) -> HTMLResponse:
    message = render('<p class="error" role="alert">$e</p>\n', e=error) if error else Safe("")
    return page("Nudgebot · sign in", render(_LOGIN, error=message), status=status)
