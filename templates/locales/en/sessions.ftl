# The account page's sessions and e-services (templates/pages/account_sessions.html).

sessions-title = Where you are logged in
sessions-intro = These browsers are logged in to your account. If you do not recognise one of them, log it out and change your password.
sessions-this = this browser
sessions-browser-unknown = Unknown browser
sessions-started = Logged in { $date }
sessions-last-used = last used { $date }
sessions-location = Approximate location: { $place }
sessions-end = Log out of this session
sessions-ended = The session has ended. The e-services used in it were told of the logout.
sessions-unknown = This session is not among your sessions. It may have ended already.
sessions-services-title = E-services with access to your information
sessions-services-intro = You have allowed these e-services to use your information, or they can fetch your information even when you are not logged in.
sessions-services-none = No e-service holds your permission or lasting access to your information.
sessions-service-scope = information: { $scope }
sessions-service-since = since { $date }
sessions-service-offline = access also when you are not logged in
sessions-service-revoke = Revoke access
sessions-service-revoked = Access revoked. The e-service can use your information again only after you log in to it again (and give your permission again, if it asks).
sessions-service-unknown = This e-service has no access to your information. Its access may have been revoked already.
