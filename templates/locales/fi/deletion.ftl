# Suomi: tilin poistaminen (EU:n tietosuoja-asetuksen 17 artikla).

deletion-title = Poista tili
deletion-intro = Voit poistaa tilisi ja sen tiedot. Poiston voi perua sähköpostiin lähetettävällä linkillä { $days } päivän ajan.
deletion-start = Poista tili…
deletion-confirm-intro = Kun poistat tilisi:
deletion-what-sessions = Kaikki kirjautumisesi päättyvät, ja e-palvelut, joille olet antanut luvan, menettävät pääsyn tietoihisi.
deletion-what-undo = Lähetämme osoitteeseesi linkin, jolla voit perua poiston { $days } päivän ajan. Sillä aikaa tiliä ei voi käyttää.
deletion-what-erased = Sen jälkeen nimesi, osoitteesi, salasanasi, pääsyavaimesi ja muut tietosi poistetaan pysyvästi, myös aiemmat käyttäjätunnuksesi.
deletion-what-kept = Jäljelle jää vain tilin tunniste, jotta sitä ei koskaan anneta kenellekään muulle, ja tapahtumaloki ilman nimeäsi ja osoitettasi.
deletion-password-hint = Vahvista poisto nykyisellä salasanallasi.
deletion-confirm = Poista tilini
deletion-cancel = Peruuta ja palaa tilin tietoihin
deletion-requested-title = Tilisi poistetaan
deletion-requested = Tilisi poistetaan pysyvästi { $date }. Kaikki kirjautumisesi on päätetty. Lähetimme osoitteeseesi linkin, jolla voit perua poiston siihen asti.
deletion-requested-no-mail = Tilisi poistetaan pysyvästi { $date }. Kaikki kirjautumisesi on päätetty. Tilillä ei ole sähköpostiosoitetta: jos haluat perua poiston, ota yhteyttä asiakaspalveluun.
deletion-pending-title = Tiliä poistetaan
deletion-pending = Tämä tili on poistettavana. Osoitteeseesi lähettämämme linkki peruu poiston { $date } asti.
deletion-undo-title = Peru tilin poisto
deletion-undo-intro = Palautetaanko tilisi? Muuten se poistetaan pysyvästi { $date }.
deletion-undo = Palauta tilini
deletion-undone-title = Tilisi on palautettu
deletion-undone = Tilisi on palautettu. Kirjautumiset ja e-palveluiden luvat eivät palanneet: kirjaudu sisään uudelleen.
mail-account_deleted-subject = Tilisi poistetaan – { $tenant }
mail-account_deleted-intro = Tilisi palvelussa { $tenant } poistetaan pysyvästi { $date }. Kaikki kirjautumisesi on päätetty.
mail-account_deleted-undo = Jos haluat pitää tilisi, tai jos et itse pyytänyt poistoa, peru se tästä linkistä { $date } asti:
mail-account_deleted-button = Palauta tilini
