# English: the second factor of authority users (one-time codes, recovery codes).
second-factor-title = Two-step verification
second-factor-intro = Open your authenticator app and enter the six-digit one-time code it shows.
second-factor-code-label = One-time code
second-factor-submit = Verify
second-factor-missing = Enter the code your authenticator app shows.
second-factor-wrong = The code is wrong or already used. Wait for the app to show a new code and try again.
second-factor-used = This code has been used already, perhaps in another tab. Wait for the app to show a new code and type it.
second-factor-lost = If you cannot reach your authenticator app and cannot find your recovery codes, contact customer service.
recovery-code-summary = Use a recovery code
recovery-code-hint = Each recovery code works only once.
recovery-code-label = Recovery code
recovery-code-submit = Log in with a recovery code
recovery-code-missing = Enter one of your recovery codes.
recovery-code-wrong = The recovery code is wrong or already used.
second-factor-enrol-title = Set up a one-time code
second-factor-enrol-required = An authority user logs in with a one-time code as well as the password. Set it up now; the login continues after that.
second-factor-enrol-app = Install an authenticator app on your phone (for example Google Authenticator, Microsoft Authenticator or FreeOTP) if you do not have one yet.
second-factor-enrol-scan = Scan the QR code with the app, or type this key into the app.
second-factor-qr-label = QR code for your authenticator app
second-factor-key-label = Key:
second-factor-enrol-code = Enter the six-digit code the app shows within { $minutes } minutes.
second-factor-enrol-submit = Set up
recovery-codes-title = Your recovery codes
recovery-codes-saved = The one-time code is set up.
recovery-codes-renewed = New recovery codes have been created. The old ones no longer work.
recovery-codes-intro = Keep these recovery codes somewhere safe, for example on paper. If you cannot reach your authenticator app, you can log in with a recovery code. Each code works once. The codes are shown only now.
recovery-codes-back = Back to your account
account-second-factor-title = Two-step verification
account-second-factor-on = A one-time code is set up.
account-second-factor-off = No one-time code is set up.
account-recovery-codes-left = { $count ->
    [one] You have one unused recovery code.
   *[other] You have { $count } unused recovery codes.
}
account-second-factor-set-up = Set up a one-time code
account-second-factor-replace = Replace the one-time code
account-recovery-codes-hint = New recovery codes replace the old ones: the old ones stop working.
account-recovery-codes-new = Create new recovery codes
second-factor-throttled = Too many failed attempts. Wait a moment and try again.
second-factor-password-wrong = The current password is wrong.
second-factor-codes-throttled = { second-factor-throttled }
second-factor-codes-password-wrong = { second-factor-password-wrong }
second-factor-codes-check-under-way = { password-check-under-way }
second-factor-none = Set up a one-time code first.
second-factor-enrol-expired = The setup expired. Start again.
second-factor-enrol-renewed = The setup expired, so the key is now a new one. Scan the new QR code or type the new key into the app, and enter the code it shows.
