# English: downloading one's own data from the account page (GDPR Articles 15 and 20).

export-title = My data
export-intro = You can download everything this service holds about you: your account, the former usernames linked to it, your logins, the e-services you have given permission, your passkeys and the events about your account. The file is in JSON format. It contains no passwords or other secrets.
export-download = Download my data
