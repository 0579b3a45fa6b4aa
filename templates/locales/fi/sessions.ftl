# The account page's sessions and e-services (templates/pages/account_sessions.html).

sessions-title = Kirjautumiset
sessions-intro = Näillä selaimilla on kirjauduttu tilillesi. Jos et tunnista jotakin niistä, kirjaudu ulos siitä ja vaihda salasanasi.
sessions-this = tämä selain
sessions-browser-unknown = Tuntematon selain
sessions-started = Kirjautunut { $date }
sessions-last-used = viimeksi käytetty { $date }
sessions-location = Arvioitu sijainti: { $place }
sessions-end = Kirjaudu ulos tästä istunnosta
sessions-ended = Istunto päättyi. Siinä käytetyt asiointipalvelut saivat tiedon uloskirjautumisesta.
sessions-unknown = Istuntoa ei löytynyt kirjautumistesi joukosta. Se on ehkä jo päättynyt.
sessions-services-title = Asiointipalvelut, joilla on pääsy tietoihisi
sessions-services-intro = Olet antanut näille asiointipalveluille luvan käyttää tietojasi, tai ne voivat hakea tietojasi myös silloin, kun et ole kirjautuneena.
sessions-services-none = Millään asiointipalvelulla ei ole lupaasi eikä pysyvää pääsyä tietoihisi.
sessions-service-scope = tiedot: { $scope }
sessions-service-since = { $date } alkaen
sessions-service-offline = pääsy myös silloin, kun et ole kirjautuneena
sessions-service-revoke = Peru pääsy
sessions-service-revoked = Pääsy peruttiin. Asiointipalvelu voi käyttää tietojasi uudelleen vasta, kun kirjaudut siihen taas (ja annat luvan uudelleen, jos se kysyy).
sessions-service-unknown = Tällä asiointipalvelulla ei ole pääsyä tietoihisi. Pääsy on ehkä jo peruttu.
