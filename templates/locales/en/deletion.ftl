# English: deleting the account (GDPR Article 17).

deletion-title = Delete account
deletion-intro = You can delete your account and its data. A link mailed to you undoes the deletion for { $days } days.
deletion-start = Delete account…
deletion-confirm-intro = When you delete your account:
deletion-what-sessions = All your logins end, and the e-services you have given permission lose access to your data.
deletion-what-undo = We mail a link to your address that undoes the deletion for { $days } days. Meanwhile the account cannot be used.
deletion-what-erased = After that your name, address, password, passkeys and your other data are erased for good, your former usernames too.
deletion-what-kept = Only the account's identifier stays, so that it is never given to anyone else, and the event log without your name and address.
deletion-password-hint = Confirm the deletion with your current password.
deletion-confirm = Delete my account
deletion-cancel = Cancel and go back to the account
deletion-requested-title = Your account will be erased
deletion-requested = Your account will be erased for good on { $date }. All your logins have ended. We mailed you a link that undoes the deletion until then.
deletion-requested-no-mail = Your account will be erased for good on { $date }. All your logins have ended. The account has no email address: to undo the deletion, contact customer service.
deletion-pending-title = This account is being deleted
deletion-pending = This account is being deleted. The link we sent to your address undoes it until { $date }.
deletion-undo-title = Undo the deletion of your account
deletion-undo-intro = Bring your account back? Otherwise it is erased for good on { $date }.
deletion-undo = Bring my account back
deletion-undone-title = Your account is back
deletion-undone = Your account is back. Your logins and the e-services' permissions were not restored: log in again.
mail-account_deleted-subject = Your account will be deleted – { $tenant }
mail-account_deleted-intro = Your account at { $tenant } will be erased for good on { $date }. All your logins have ended.
mail-account_deleted-undo = If you want to keep your account, or if you did not ask for the deletion yourself, undo it with this link until { $date }:
mail-account_deleted-button = Bring my account back
