"""Run the OpenID Foundation's OP test flows (oidctest 0.8.2) headless against a fresh idp.

Called by `scripts/conformance/run`, inside the virtual environment that script prepares. It
starts `idp serve` on a loopback port with the configuration in `scripts/conformance/`, drives the
tool's `oidctest.tool.WebTester` in-process (the calls `oidctest.optt.Main` makes per HTTP
request), and stands in for the person at the browser with a small `requests` user agent that
fills idp's own forms (identifier, password, consent, logout confirmation). A small HTTP server
of its own publishes the relying party's keys (for `private_key_jwt`) and receives back-channel
logout tokens. It prints one line per test: PASS, N/A (with the reason from `not-applicable.txt`)
or FAIL, and exits non-zero on any FAIL or on a test that neither passes nor is listed N/A.

How it runs, what it covers and why the N/A tests do not apply: docs/oidc.md, "Conformance".
"""

# --- Shims: the 2019 tool on a current CPython (before anything imports it). ------------------
import collections
import collections.abc
import inspect
import sys
import http.cookies

for _name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable",
              "Callable", "MutableSet", "Set", "Hashable"):
    setattr(collections, _name, getattr(collections.abc, _name))
inspect.getargspec = lambda f: inspect.getfullargspec(f)[:4]
sys.modules["future.backports.http.cookies"] = http.cookies

# --- The rest. ---------------------------------------------------------------------------------
import argparse  # noqa: E402
import base64  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import ipaddress  # noqa: E402
import queue  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import datetime  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from urllib.parse import parse_qsl, urljoin, urlparse  # noqa: E402

import cherrypy  # noqa: E402
import requests  # noqa: E402
from bs4 import BeautifulSoup  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from oidctest.op.client import Client  # noqa: E402
from oic.oic import message as oic_message  # noqa: E402
from otest.aus.client import Factory  # noqa: E402
from otest.check import CRITICAL, ERROR, INCOMPLETE, NOT_APPLICABLE, OK, WARNING  # noqa: E402
from otest.conf_setup import construct_app_args  # noqa: E402
from otest.events import EV_CONDITION, EV_FAULT  # noqa: E402
from otest.summation import eval_state  # noqa: E402

from oidctest.op import check, func, oper, profiles  # noqa: E402
from oidctest.op.profiles import PROFILEMAP  # noqa: E402
from oidctest.prof_util import ProfileHandler  # noqa: E402
from oidctest.session import SessionHandler  # noqa: E402
from oidctest.tool import WebTester  # noqa: E402
from oic.oic import Client as OicClient  # noqa: E402
from oic.oic.message import AccessTokenRequest, EndSessionRequest  # noqa: E402
from oic.oic.message import RefreshAccessTokenRequest  # noqa: E402
from oic.utils.authn.client import JWSAuthnMethod  # noqa: E402
from urllib3.exceptions import InsecureRequestWarning  # noqa: E402
import urllib3  # noqa: E402


def construct_end_session_request(self, request=EndSessionRequest, request_args=None,
                                  extra_args=None, **kwargs):
    """The fourth shim: oidctest 0.8.2 expects the oic of its time, which sent `state` in an
    end-session request only when the request arguments had one (a `state` among the keyword
    arguments only picks the grant whose ID token is the hint). oic 0.15.1 lets the keyword win,
    which sends the authorization's state instead of the tool's logout state."""
    return self._id_token_based(request, dict(request_args or {}), extra_args, **kwargs)


OicClient.construct_EndSessionRequest = construct_end_session_request

_jws_construct = JWSAuthnMethod.construct


def jws_construct(self, cis, request_args=None, http_args=None, **kwargs):
    """The fifth shim: oic 0.15.1 builds a client assertion only when told which endpoint it is
    for, which the tool's RefreshToken operation does not say; a refresh request goes to the token
    endpoint (the assertion's audience)."""
    if isinstance(cis, (AccessTokenRequest, RefreshAccessTokenRequest)):
        kwargs.setdefault("authn_endpoint", "token")
    return _jws_construct(self, cis, request_args, http_args, **kwargs)


JWSAuthnMethod.construct = jws_construct
# The tool fetches the OP's jwks_uri in two checks with verify=False, as the tool does itself.
urllib3.disable_warnings(InsecureRequestWarning)

import logout_token  # noqa: E402  (the back-channel logout messages the 2019 oic lacks)

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILE = "C.F.T.F.s.+"  # code flow, no WebFinger, discovery, static registration, signed, extras
TENANT = "conformance"
EMAIL = "conformance@example.test"
PASSWORD = "conformance-password-7391"
REQUEST_TIMEOUT = 10  # seconds, every HTTP request of the user agent
BACKCHANNEL_WAIT = 15  # seconds to wait for idp's logout token (its queue runs every 2 s)

# The client each test uses; the tool's static registration takes its method from it.
CLIENT_OF_TEST = {
    "OP-ClientAuth-SecretPost-Static": "conformance-post",
    "OP-ClientAuth-PrivateJWT": "conformance-jwt",
}
CLIENTS = ["conformance-basic", "conformance-post", "conformance-jwt"]
# The profile runs with the client_secret_basic client. These tests, every one of which
# authenticates at the token endpoint (and the refresh, code-reuse and logout paths after it),
# run again with the client_secret_post and the private_key_jwt client.
AGAIN_WITH = ["conformance-post", "conformance-jwt"]
AGAIN = ["OP-BackChannel-RpInitLogout-all", "OP-IDToken-C-Signature", "OP-OAuth-2nd",
         "OP-OAuth-2nd-Revokes", "OP-Req-id_token_hint", "OP-RpInitLogout-no-state",
         "OP-Token-refresh", "OP-UserInfo-Header", "OP-claims-acr-essential",
         "OP-prompt-none-LoggedIn"]
AUTH_METHOD = {
    "conformance-basic": "client_secret_basic",
    "conformance-post": "client_secret_post",
    "conformance-jwt": "private_key_jwt",
}
SECRET = {"conformance-basic": "conformance-basic-secret",
          "conformance-post": "conformance-post-secret"}


class Timeout(Exception):
    """A test ran past its time."""


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- TLS in front of idp, as a reverse proxy does in production -------------------------------

def make_certificate(work):
    """A self-signed certificate for 127.0.0.1; the tool and the user agent trust only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = os.path.join(work, "tls.crt"), os.path.join(work, "tls.key")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_file, key_file


class TlsProxy:
    """Terminates TLS on a loopback port and passes the bytes to idp's plain port."""

    def __init__(self, cert_file, key_file):
        self.backend_port = None
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(REQUEST_TIMEOUT)
            tls = self.context.wrap_socket(conn, server_side=True)
            tls.settimeout(None)
            backend = socket.create_connection(("127.0.0.1", self.backend_port))
        except (OSError, ssl.SSLError):
            conn.close()
            return
        try:
            while not self.stopped:
                ready, _, _ = select.select([tls, backend], [], [], 120)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if sock is tls:
                        while tls.pending():
                            data += tls.recv(tls.pending())
                    if not data:
                        return
                    (backend if sock is tls else tls).sendall(data)
        except (OSError, ssl.SSLError):
            return
        finally:
            backend.close()
            tls.close()


# --- idp ---------------------------------------------------------------------------------------

class Idp:
    """A fresh idp in a temporary directory: config, SQLite, mail to files, one test user."""

    def __init__(self, binary, work, rp_base, tls_port):
        self.binary = os.path.abspath(binary)
        self.work = work
        self.port = free_port()
        self.tls_port = tls_port
        self.url = "https://127.0.0.1:{}".format(tls_port)
        self.issuer = "{}/{}".format(self.url, TENANT)
        self.proc = None
        self.log = os.path.join(work, "idp.log")
        self._write_config(rp_base)

    def _write_config(self, rp_base):
        tenants = os.path.join(self.work, "tenants")
        os.makedirs(tenants)
        with open(os.path.join(HERE, "idp.toml")) as f:
            main = f.read()
        main = (main.replace("@PORT@", str(self.port))
                .replace("@TLS_PORT@", str(self.tls_port))
                .replace("@WORK@", self.work)
                .replace("@KEY@", base64.b64encode(os.urandom(32)).decode()))
        with open(os.path.join(self.work, "idp.toml"), "w") as f:
            f.write(main)
        with open(os.path.join(HERE, "tenant.toml")) as f:
            tenant = f.read().replace("@RP@", rp_base)
        with open(os.path.join(tenants, TENANT + ".toml"), "w") as f:
            f.write(tenant)

    def _idp(self, *args, **kwargs):
        return subprocess.run([self.binary, "--config", os.path.join(self.work, "idp.toml")]
                              + list(args), cwd=self.work, check=True, timeout=120,
                              capture_output=True, text=True, **kwargs)

    def start(self, verify):
        """Migrate, add the test user, start `idp serve` and wait for discovery."""
        self._idp("migrate")
        self._idp("users", "add", "--tenant", TENANT, "--email", EMAIL,
                  "--name", "Conformance Tester", "--password-stdin", input=PASSWORD + "\n")
        log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [self.binary, "--config", os.path.join(self.work, "idp.toml"), "serve"],
            cwd=self.work, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("idp serve exited with {}; see {}".format(
                    self.proc.returncode, self.log))
            try:
                r = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2,
                                 verify=verify)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("idp did not answer within 60 s; see " + self.log)

    def stop(self):
        """Stop the server this harness started, by its PID."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- The relying party's own endpoints ---------------------------------------------------------

class RpServer:
    """Publishes the tool's public keys and receives back-channel logout tokens."""

    def __init__(self, port):
        self.port = port
        self.jwks = {"keys": []}
        self.logout_tokens = collections.defaultdict(queue.Queue)  # by client id
        harness = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/jwks/"):
                    body = json.dumps(harness.jwks).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                path = urlparse(self.path).path
                if path.startswith("/backchannel_logout/"):
                    harness.logout_tokens[path[len("/backchannel_logout/"):]].put(body)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def public_jwks(jwks):
    """The public half of the tool's key set."""
    private = {"d", "p", "q", "dp", "dq", "qi", "k"}
    return {"keys": [{k: v for k, v in key.items() if k not in private}
                     for key in jwks["keys"] if key.get("kty") != "oct"]}


# --- The user agent ----------------------------------------------------------------------------

class Callback:
    """The OP sent the browser to one of the tool's URLs."""

    def __init__(self, url, method, params):
        self.url = url
        self.path = urlparse(url).path.strip("/")
        self.method = method
        self.params = params


class Page:
    """The OP answered with a page the user agent has nothing to do on."""

    def __init__(self, status, url, text):
        self.status = status
        self.url = url
        self.text = text


class UserAgent:
    """A browser stand-in: follows redirects, fills idp's forms, stops at the tool's URLs."""

    def __init__(self, rp_base, cert_file):
        self.rp_base = rp_base
        self.session = requests.Session()
        self.cert_file = cert_file
        self.login_pages = 0  # identifier or password pages shown, counted per drive
        self.pages = []

    def clear_cookies(self):
        self.session.cookies.clear()

    def drive(self, url):
        self.login_pages = 0
        self.pages = []
        method, data = "GET", None
        for _ in range(30):
            if url.startswith(self.rp_base):
                params = dict(parse_qsl(urlparse(url).query, keep_blank_values=True))
                if data:
                    params.update(data)
                return Callback(url, method, params)
            r = self.session.request(method, url, data=data, allow_redirects=False,
                                     timeout=REQUEST_TIMEOUT, verify=self.cert_file)
            if 300 <= r.status_code < 400 and "Location" in r.headers:
                url, method, data = urljoin(url, r.headers["Location"]), "GET", None
                continue
            soup = BeautifulSoup(r.text, "html.parser")
            form, fill = self._form(soup, url)
            if form is None:
                return Page(r.status_code, url, r.text)
            fields = {i.get("name"): i.get("value", "") for i in form.find_all("input")
                      if i.get("name") and i.get("type") in ("hidden", None, "text")}
            fields.update(fill)
            url, method, data = urljoin(url, form.get("action")), "POST", fields
        raise RuntimeError("more than 30 steps in one browser journey")

    def _form(self, soup, url):
        for form in soup.find_all("form"):
            action = urljoin(url, form.get("action") or url)
            if action.startswith(self.rp_base):
                self.pages.append("form_post")
                return form, {}
            path = urlparse(action).path
            if path.endswith("/login/identifier"):
                self.login_pages += 1
                self.pages.append("identifier")
                return form, {"identifier": EMAIL}
            if path.endswith("/login/password"):
                self.login_pages += 1
                self.pages.append("password")
                return form, {"password": PASSWORD}
            if path.endswith("/consent"):
                self.pages.append("consent")
                return form, {"decision": "approve"}
            if path.endswith("/logout") and form.find("button", attrs={"name": "confirm"}):
                self.pages.append("logout_confirm")
                return form, {"confirm": "yes"}
        return None, {}


# --- The tool ----------------------------------------------------------------------------------

class Inut:
    """What the tool's operations ask of their web I/O object; no pages are rendered."""

    def __init__(self, session):
        self.session = session
        self.profile_handler = ProfileHandler
        self.pre_html = collections.defaultdict(lambda: "{note}")

    @property
    def profile(self):
        return self.session.profile

    def respond(self, resp):
        return resp

    def err_response(self, where, err):
        raise RuntimeError("{}: {}".format(where, err))


class Tool:
    """The oidctest tester, configured for idp's statically registered clients."""

    def __init__(self, work, rp_port, idp, cert_file):
        self.work = work
        os.makedirs(os.path.join(work, "jwks"), exist_ok=True)
        conf = types.SimpleNamespace(
            BASE="http://127.0.0.1",
            KEYS=[{"type": "RSA", "key": os.path.join(work, "rp_sig.key"), "use": ["sig"]},
                  {"type": "EC", "crv": "P-256", "use": ["sig"]}],
            FLOWDIR=os.path.join(HERE, "flows"),
            PROFILES="oidctest.op.profiles",
        )
        args = types.SimpleNamespace(flowdir=conf.FLOWDIR, port=rp_port, staticdir="jwks",
                                     path2port=None, makodir=None, insecure=False)
        cwd = os.getcwd()
        os.chdir(work)
        try:
            self.envs = {}
            for client_id in CLIENTS:
                reg = {
                    "client_id": client_id,
                    "redirect_uris": ["{}authz_cb", "{}authz_post"],
                    "post_logout_redirect_uris": ["{}logout"],
                    "token_endpoint_auth_method": AUTH_METHOD[client_id],
                    "backchannel_logout_uri": "{}backchannel_logout/" + client_id,
                    "response_types": ["code"],
                    "grant_types": ["authorization_code", "refresh_token"],
                }
                if client_id in SECRET:
                    reg["client_secret"] = SECRET[client_id]
                inst = {"client": {"registration_info": copy.deepcopy(reg),
                                   "registration_response": reg},
                        "tool": {"profile": PROFILE, "issuer": idp.issuer,
                                 "login_hint": EMAIL, "ui_locales": "fi",
                                 "claims_locales": "fi", "acr_values": "urn:idp:acr:password",
                                 "webfinger_email": EMAIL, "webfinger_url": idp.issuer}}
                _path, app_args = construct_app_args(args, conf, oper, func, profiles, inst)
                base = app_args["base_url"]
                for key in ("redirect_uris", "post_logout_redirect_uris"):
                    reg[key] = [u.format(base) for u in reg[key]]
                reg["backchannel_logout_uri"] = reg["backchannel_logout_uri"].format(base)
                app_args["client_info"]["jwks_uri"] = base + "jwks/jwks.json"
                app_args["client_info"]["verify_ssl"] = cert_file
                app_args.update({
                    "msg_factory": logout_token.factory, "profile_map": PROFILEMAP,
                    "profile_handler": ProfileHandler, "client_factory": Factory(Client),
                    "flows": app_args["flow_state"], "check_factory": check.factory,
                })
                self.envs[client_id] = app_args
            with open(os.path.join(work, "jwks", "jwks_{}.json".format(rp_port))) as f:
                self.jwks = public_jwks(json.load(f))
        finally:
            os.chdir(cwd)
        self.base = self.envs[CLIENTS[0]]["base_url"]
        self.flows = self.envs[CLIENTS[0]]["flow_state"]

    def tests(self):
        return sorted(self.flows.matches_profile(PROFILE))

    def tester(self, client_id):
        env = self.envs[client_id]
        sh = SessionHandler(**env)
        sh.init_session(PROFILE)
        inut = Inut(sh)
        tester = WebTester(inut, sh, **env)
        tester.check_factory = check.factory
        return env, sh, tester


# --- Running one test --------------------------------------------------------------------------

class Redirect:
    """The tool sends the browser somewhere."""

    def __init__(self, url):
        self.url = url


def call(fn, *args, **kwargs):
    """One tool step; a redirect the tool raises (cherrypy style) becomes a value."""
    try:
        return fn(*args, **kwargs)
    except cherrypy.HTTPRedirect as redirect:
        return Redirect(redirect.urls[0])


def get_errors(events):
    """The faults and failed conditions of a test, as text."""
    res = ["{}".format(item.message) for item in events.get_data(EV_FAULT)]
    res += ["{}: {}".format(item.test_id, item.message)
            for item in events.get_data(EV_CONDITION) if item.status in (ERROR, CRITICAL)]
    return ". ".join(res)


def warnings(events):
    """The warnings of a test, as text."""
    return ". ".join("{}: {}".format(item.test_id, item.message)
                     for item in events.get_data(EV_CONDITION) if item.status == WARNING)


def next_operation(sh, offset=1):
    try:
        item = sh["sequence"][sh["index"] + offset]
    except IndexError:
        return ""
    return (item[0] if isinstance(item, tuple) else item).__name__


# Tests whose verdict the tool leaves to the person at the browser, decided here from what the
# user agent saw: "login" = the last trip to the OP showed a login page; "no-login" = it showed
# none; "error-page" = the OP stopped at a page of its own (an error or "logged out") and did not
# send the browser back to the tool; "page-then-continue" = the same, then the flow goes on as the
# tool's "continue" link would take it (the PostLogout step gets no request).
PERSON_DECIDES = {
    "OP-prompt-login": "login",
    "OP-Req-max_age=1": "login",
    "OP-prompt-none-LoggedIn": "no-login",
    "OP-redirect_uri-NotReg": "error-page",
    "OP-redirect_uri-MissingOK": "error-page",
    "OP-Response-Missing": "error-page",
    "OP-RpInitLogout-bad_redirect_uri": "error-page",
    "OP-RpInitLogout-modified-idtoken_hint": "error-page",
    "OP-RpInitLogout-no-id_token_hint": "error-page",
    "OP-RpInitLogout-post_logout_redirect_uri-with-query": "error-page",
    "OP-RpInitLogout-wrong-idtoken_hint": "error-page",
    "OP-RpInitLogout-only-state": "page-then-continue",
}


def run_test(tool, rp, ua, test_id, client_id, log):
    """Run one test: ("PASS" | "FAIL" | "INCOMPLETE" | "N/A", detail)."""
    env, sh, tester = tool.tester(client_id)
    rule = PERSON_DECIDES.get(test_id)
    journeys = []  # what the user agent saw on each trip to the OP
    stopped = None
    # Every client that shared the session gets a logout token, each at its own URI; this test
    # looks only at its own client's (the tool's "not for me" for the others).
    for tokens in list(rp.logout_tokens.values()):
        while tokens.qsize():
            tokens.get()
    out = call(tester.run, test_id, **env)
    for _ in range(40):
        if isinstance(out, Redirect):
            res = ua.drive(out.url)
            journeys.append((ua.login_pages, list(ua.pages)))
            log.write("  {}: {} -> {} {}\n".format(test_id, out.url, type(res).__name__,
                                                   ua.pages))
            if isinstance(res, Page):
                stopped = res
                if rule == "page-then-continue" and next_operation(sh, 1) == "PostLogout":
                    sh["index"] += 1
                    out = call(tester.handle_request)
                    continue
                break
            stopped = None
            if res.path in ("authz_cb", "authz_post"):
                expected = "form_post" if sh["conv"].req.req_args.get(
                    "response_mode") == "form_post" else "query"
                got = "form_post" if res.method == "POST" else "query"
                if expected != got:
                    return "FAIL", "expected the {} response mode, got {}".format(expected, got)
                out = call(tester.async_response, env["conf"], response=res.params)
            elif res.path == "logout":
                if next_operation(sh) == "BackChannelLogout":
                    try:
                        body = rp.logout_tokens[client_id].get(timeout=BACKCHANNEL_WAIT)
                    except queue.Empty:
                        return "FAIL", "no back-channel logout token within {} s".format(
                            BACKCHANNEL_WAIT)
                    sh["index"] += 1
                    log.write("  {}: back-channel logout {}\n".format(test_id, body[:60]))
                    out = call(tester.handle_request, request=body)
                    if out != "OK":
                        return "FAIL", "back-channel logout: {}".format(
                            get_errors(sh["conv"].events) or out)
                sh["index"] += 1
                out = call(tester.handle_request, request_args=res.params or None)
            else:
                return "FAIL", "the OP sent the browser to {}".format(res.url)
        elif isinstance(out, bytes):
            # A "Note" for the person: act on it, then go on as the page's link would.
            # A person takes more than a second to read one, which tests of re-authentication
            # need: auth_time has one-second resolution (OP-prompt-login). For max_age=1, idp
            # counts whole seconds as auth_time carries them (docs/oidc.md): a new login is due
            # once now's second is more than one past auth_time's, so wait two seconds.
            note = out.decode()
            if "cookies" in note:
                ua.clear_cookies()
            time.sleep(2.1 if "max_age=1" in note else 1.1)
            out = call(tester.cont, path=test_id, index=sh["index"])
        else:
            break
    events = sh["conv"].events
    state = eval_state(events)
    errors = get_errors(events)
    if isinstance(out, dict) and "exception_trace" in out:
        return "FAIL", "exception: {}".format(" ".join(str(x) for x in out["exception_trace"])[-300:])
    if state in (ERROR, CRITICAL):
        return "FAIL", errors or "status {}".format(state)
    if rule == "error-page" and stopped is None and state == INCOMPLETE:
        return "FAIL", "expected the OP to stop at its own page"
    if rule == "error-page" and stopped is not None:
        if stopped.status >= 500:
            return "FAIL", "the OP answered {}".format(stopped.status)
        return "PASS", "stopped at the OP's page ({}), not sent back".format(stopped.status)
    if stopped is not None:
        return "FAIL", "stopped at the OP's page {} ({})".format(stopped.url, stopped.status)
    if rule == "login" and (len(journeys) < 2 or journeys[-1][0] == 0):
        return "FAIL", "the last authentication request did not show a login page"
    if rule == "no-login" and (len(journeys) < 2 or journeys[-1][1]):
        return "FAIL", "prompt=none showed a page: {}".format(journeys[-1][1])
    if state == NOT_APPLICABLE:
        return "N/A", "the tool: not applicable"
    if state == INCOMPLETE:
        return "INCOMPLETE", errors or "the flow did not finish"
    detail = "warning: " + warnings(events) if state == WARNING else ""
    if rule:
        detail = (detail + " " if detail else "") + "decided by the user agent: " + rule
    return "PASS", detail


def load_not_applicable():
    """not-applicable.txt: `test-id  reason`, one a line; `#` starts a comment."""
    na = {}
    with open(os.path.join(HERE, "not-applicable.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                tid, reason = line.split(None, 1)
                na[tid] = reason.strip()
    return na


def on_alarm(signum, frame):
    raise Timeout()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idp", required=True, help="the idp binary")
    parser.add_argument("--test", action="append", help="run only this test (repeatable)")
    parser.add_argument("--per-test-timeout", type=int, default=90)
    parser.add_argument("--overall-timeout", type=int, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = parser.parse_args()

    started = time.time()
    # Stopped from outside (CI's time limit): unwind, so that idp is stopped by its PID.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    work = tempfile.mkdtemp(prefix="idp-conformance-")
    opts.idp = os.path.abspath(opts.idp)
    os.chdir(work)  # the tool writes its logs and results to the working directory
    logging.basicConfig(filename=os.path.join(work, "tool.log"), level=logging.INFO)
    log = open(os.path.join(work, "journeys.log"), "w")
    na = load_not_applicable()
    rp_port = free_port()
    rp = RpServer(rp_port)
    cert_file, key_file = make_certificate(work)
    proxy = TlsProxy(cert_file, key_file)
    idp = Idp(opts.idp, work, "http://127.0.0.1:{}/".format(rp_port), proxy.port)
    proxy.backend_port = idp.port
    results = []
    try:
        rp.start()
        proxy.start()
        idp.start(cert_file)
        tool = Tool(work, rp_port, idp, cert_file)
        rp.jwks = tool.jwks
        ua = UserAgent(tool.base, cert_file)
        tests = tool.tests()
        unknown = set(na) - set(tests)
        if unknown:
            print("conformance: not-applicable.txt names tests not in the profile: "
                  + ", ".join(sorted(unknown)))
            return 2
        runs = [(t, CLIENT_OF_TEST.get(t, CLIENTS[0])) for t in tests]
        runs += [(t, c) for c in AGAIN_WITH for t in AGAIN]
        if opts.test:
            runs = [r for r in runs if r[0] in opts.test]
        signal.signal(signal.SIGALRM, on_alarm)
        for tid, client_id in runs:
            t0 = time.time()
            name = tid if client_id == CLIENTS[0] else "{} [{}]".format(tid, AUTH_METHOD[client_id])
            if tid in na:
                results.append((name, "N/A", na[tid], 0.0))
                continue
            if time.time() - started > opts.overall_timeout:
                results.append((name, "FAIL", "not run: the overall time limit was reached", 0.0))
                continue
            signal.alarm(opts.per_test_timeout)
            try:
                verdict, detail = run_test(tool, rp, ua, tid, client_id, log)
            except Timeout:
                verdict, detail = "FAIL", "timed out after {} s".format(opts.per_test_timeout)
            except Exception as err:  # a crash in one test is that test's failure
                verdict, detail = "FAIL", "{}: {}".format(type(err).__name__, err)
            finally:
                signal.alarm(0)
            if verdict not in ("PASS",):
                verdict = "FAIL" if verdict != "N/A" else verdict
                if verdict == "N/A":
                    verdict, detail = "FAIL", "the tool says N/A but not-applicable.txt " \
                                              "gives no reason: " + detail
            results.append((name, verdict, detail, time.time() - t0))
            log.flush()
    finally:
        idp.stop()
        proxy.stop()
        rp.stop()
        log.close()

    width = max(len(r[0]) for r in results) if results else 10
    print("{:<{w}}  {:<4}  {:>5}  {}".format("test", "", "secs", "detail", w=width))
    for tid, verdict, detail, secs in results:
        print("{:<{w}}  {:<4}  {:>5.1f}  {}".format(tid, verdict, secs, detail, w=width))
    counts = {v: sum(1 for r in results if r[1] == v) for v in ("PASS", "N/A", "FAIL")}
    print("conformance: profile {}, {} tests in {:.0f} s; N/A counted as skipped".format(
        PROFILE, len(results), time.time() - started))
    print("conformance: {} passed, {} failed, {} skipped".format(
        counts["PASS"], counts["FAIL"], counts["N/A"]))
    if opts.keep or counts["FAIL"]:
        print("conformance: logs kept in " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
