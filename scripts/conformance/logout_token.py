"""The back-channel logout messages the tool's 2019 `oic` lacks (Back-Channel Logout 1.0 §2.4-2.6).

`oidctest.op.oper.BackChannelLogout` asks the message factory for `BackChannelLogoutRequest`,
verifies it with the client's id, the issuer and the client's key jar, and reads
`logout_token.sid`. This module supplies that class (and `factory`, which falls back to oic's),
checking what §2.6 asks of a receiver: a JWS (never `alg: none`) that verifies with the OP's keys,
`iss` the issuer, `aud` containing the client id, `iat` and `jti` present, the back-channel logout
event in `events`, `sub` or `sid`, and no `nonce`.
"""

import time

from oic.oauth2.message import Message, OPTIONAL_LIST_OF_STRINGS, SINGLE_OPTIONAL_STRING
from oic.oauth2.message import SINGLE_REQUIRED_STRING
from oic.oic import message as oic_message
from oic.oic.message import SINGLE_REQUIRED_INT
from oic.exception import MessageException, NotForMe

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutToken(Message):
    """The claims of a logout token (§2.4)."""

    c_param = {
        "iss": SINGLE_REQUIRED_STRING,
        "sub": SINGLE_OPTIONAL_STRING,
        "aud": OPTIONAL_LIST_OF_STRINGS,
        "iat": SINGLE_REQUIRED_INT,
        "exp": SINGLE_REQUIRED_INT,
        "jti": SINGLE_REQUIRED_STRING,
        "events": (dict, True, None, None, False),
        "sid": SINGLE_OPTIONAL_STRING,
    }

    def verify(self, **kwargs):
        super().verify(**kwargs)
        if "nonce" in self:
            raise MessageException("a logout token must not contain nonce")
        if EVENT not in self["events"] or not isinstance(self["events"][EVENT], dict):
            raise MessageException("the back-channel logout event is missing")
        if "sub" not in self and "sid" not in self:
            raise MessageException("a logout token needs sub or sid")
        if kwargs.get("iss") and self["iss"] != kwargs["iss"]:
            raise NotForMe("issuer {} is not {}".format(self["iss"], kwargs["iss"]))
        if kwargs.get("aud") and kwargs["aud"] not in self["aud"]:
            raise NotForMe("not addressed to {}".format(kwargs["aud"]))
        if self["exp"] < time.time() - 60:
            raise MessageException("the logout token has expired")
        return True


class BackChannelLogoutRequest(Message):
    """The form the OP posts to the client's back-channel logout URI (§2.5)."""

    c_param = {"logout_token": SINGLE_REQUIRED_STRING}

    def verify(self, **kwargs):
        super().verify(**kwargs)
        token = LogoutToken().from_jwt(self["logout_token"], keyjar=kwargs["keyjar"],
                                       sender=kwargs.get("iss"))
        header = token.jws_header
        if header.get("alg", "none") == "none":
            raise MessageException("a logout token must be signed")
        if header.get("typ") not in (None, "logout+jwt"):
            raise MessageException("unexpected typ {}".format(header.get("typ")))
        token.verify(iss=kwargs.get("iss"), aud=kwargs.get("aud"))
        self["logout_token"] = token
        return True


def factory(msgtype):
    """The message class named `msgtype`: this module's, else oic's."""
    if msgtype == "BackChannelLogoutRequest":
        return BackChannelLogoutRequest
    if msgtype == "LogoutToken":
        return LogoutToken
    return oic_message.factory(msgtype)
