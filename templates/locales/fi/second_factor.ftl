# Finnish: the second factor of authority users (one-time codes, recovery codes).
second-factor-title = Kaksivaiheinen tunnistautuminen
second-factor-intro = Avaa todennussovellus ja syötä sen näyttämä kuusinumeroinen kertakäyttökoodi.
second-factor-code-label = Kertakäyttökoodi
second-factor-submit = Vahvista
second-factor-missing = Syötä todennussovelluksen näyttämä koodi.
second-factor-wrong = Koodi on väärä tai jo käytetty. Odota, että sovellus näyttää uuden koodin, ja yritä uudelleen.
second-factor-used = Tämä koodi on jo käytetty, ehkä toisessa välilehdessä. Odota, että sovellus näyttää uuden koodin, ja kirjoita se.
second-factor-lost = Jos et pääse todennussovellukseesi etkä löydä varakoodejasi, ota yhteys asiakaspalveluun.
recovery-code-summary = Käytä varakoodia
recovery-code-hint = Kukin varakoodi toimii vain kerran.
recovery-code-label = Varakoodi
recovery-code-submit = Kirjaudu varakoodilla
recovery-code-missing = Syötä jokin varakoodeistasi.
recovery-code-wrong = Varakoodi on väärä tai jo käytetty.
second-factor-enrol-title = Ota kertakäyttökoodi käyttöön
second-factor-enrol-required = Viranomaiskäyttäjän on kirjauduttava salasanan lisäksi kertakäyttökoodilla. Ota se käyttöön nyt; kirjautuminen jatkuu sen jälkeen.
second-factor-enrol-app = Asenna puhelimeesi todennussovellus (esimerkiksi Google Authenticator, Microsoft Authenticator tai FreeOTP), jos sinulla ei vielä ole sellaista.
second-factor-enrol-scan = Lue QR-koodi sovelluksella, tai kirjoita sovellukseen tämä avain.
second-factor-qr-label = QR-koodi, jonka todennussovellus lukee
second-factor-key-label = Avain:
second-factor-enrol-code = Syötä sovelluksen näyttämä kuusinumeroinen koodi { $minutes } minuutin kuluessa.
second-factor-enrol-submit = Ota käyttöön
recovery-codes-title = Varakoodisi
recovery-codes-saved = Kertakäyttökoodi on otettu käyttöön.
recovery-codes-renewed = Uudet varakoodit on luotu. Vanhat eivät enää toimi.
recovery-codes-intro = Tallenna nämä varakoodit turvalliseen paikkaan, esimerkiksi tulosta ne. Jos et pääse todennussovellukseesi, voit kirjautua varakoodilla. Kukin koodi toimii kerran. Koodit näytetään vain nyt.
recovery-codes-back = Takaisin omiin tietoihin
account-second-factor-title = Kaksivaiheinen tunnistautuminen
account-second-factor-on = Kertakäyttökoodi on käytössä.
account-second-factor-off = Kertakäyttökoodia ei ole otettu käyttöön.
account-recovery-codes-left = { $count ->
    [one] Käyttämättömiä varakoodeja on yksi.
   *[other] Käyttämättömiä varakoodeja on { $count }.
}
account-second-factor-set-up = Ota kertakäyttökoodi käyttöön
account-second-factor-replace = Vaihda kertakäyttökoodi
account-recovery-codes-hint = Uudet varakoodit korvaavat vanhat: vanhat lakkaavat toimimasta.
account-recovery-codes-new = Luo uudet varakoodit
second-factor-throttled = Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.
second-factor-password-wrong = Nykyinen salasana on väärin.
second-factor-codes-throttled = { second-factor-throttled }
second-factor-codes-password-wrong = { second-factor-password-wrong }
second-factor-codes-check-under-way = { password-check-under-way }
second-factor-none = Ota ensin kertakäyttökoodi käyttöön.
second-factor-enrol-expired = Käyttöönotto vanheni. Aloita alusta.
second-factor-enrol-renewed = Käyttöönotto ehti vanhentua, joten avain on nyt uusi. Lue uusi QR-koodi tai kirjoita uusi avain sovellukseen ja syötä sen näyttämä koodi.
