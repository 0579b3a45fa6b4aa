# Swedish: the second factor of authority users (one-time codes, recovery codes).
second-factor-title = Tvåstegsverifiering
second-factor-intro = Öppna autentiseringsappen och ange den sexsiffriga engångskod som den visar.
second-factor-code-label = Engångskod
second-factor-submit = Bekräfta
second-factor-missing = Ange koden som autentiseringsappen visar.
second-factor-wrong = Koden är fel eller redan använd. Vänta tills appen visar en ny kod och försök igen.
second-factor-used = Koden har redan använts, kanske i en annan flik. Vänta tills appen visar en ny kod och skriv den.
second-factor-lost = Om du inte kommer åt din autentiseringsapp och inte hittar dina reservkoder, kontakta kundtjänsten.
recovery-code-summary = Använd en reservkod
recovery-code-hint = Varje reservkod fungerar bara en gång.
recovery-code-label = Reservkod
recovery-code-submit = Logga in med reservkod
recovery-code-missing = Ange en av dina reservkoder.
recovery-code-wrong = Reservkoden är fel eller redan använd.
second-factor-enrol-title = Ta i bruk engångskod
second-factor-enrol-required = En myndighetsanvändare ska logga in med en engångskod utöver lösenordet. Ta den i bruk nu; inloggningen fortsätter sedan.
second-factor-enrol-app = Installera en autentiseringsapp i din telefon (till exempel Google Authenticator, Microsoft Authenticator eller FreeOTP) om du inte redan har en.
second-factor-enrol-scan = Läs QR-koden med appen, eller skriv in den här nyckeln i appen.
second-factor-qr-label = QR-kod som autentiseringsappen läser
second-factor-key-label = Nyckel:
second-factor-enrol-code = Ange den sexsiffriga kod som appen visar inom { $minutes } minuter.
second-factor-enrol-submit = Ta i bruk
recovery-codes-title = Dina reservkoder
recovery-codes-saved = Engångskoden har tagits i bruk.
recovery-codes-renewed = Nya reservkoder har skapats. De gamla fungerar inte längre.
recovery-codes-intro = Spara de här reservkoderna på ett säkert ställe, till exempel på papper. Om du inte kommer åt din autentiseringsapp kan du logga in med en reservkod. Varje kod fungerar en gång. Koderna visas bara nu.
recovery-codes-back = Tillbaka till dina uppgifter
account-second-factor-title = Tvåstegsverifiering
account-second-factor-on = Engångskod är i bruk.
account-second-factor-off = Engångskod har inte tagits i bruk.
account-recovery-codes-left = { $count ->
    [one] Du har en oanvänd reservkod.
   *[other] Du har { $count } oanvända reservkoder.
}
account-second-factor-set-up = Ta i bruk engångskod
account-second-factor-replace = Byt engångskod
account-recovery-codes-hint = Nya reservkoder ersätter de gamla: de gamla slutar fungera.
account-recovery-codes-new = Skapa nya reservkoder
second-factor-throttled = För många misslyckade försök. Vänta en stund och försök igen.
second-factor-password-wrong = Det nuvarande lösenordet är fel.
second-factor-codes-throttled = { second-factor-throttled }
second-factor-codes-password-wrong = { second-factor-password-wrong }
second-factor-codes-check-under-way = { password-check-under-way }
second-factor-none = Ta först i bruk en engångskod.
second-factor-enrol-expired = Ibruktagandet gick ut. Börja om.
second-factor-enrol-renewed = Ibruktagandet hann gå ut, så nyckeln är nu ny. Läs den nya QR-koden eller skriv in den nya nyckeln i appen och ange koden den visar.
