# The account page's sessions and e-services (templates/pages/account_sessions.html).

sessions-title = Inloggningar
sessions-intro = Dessa webbläsare är inloggade på ditt konto. Om du inte känner igen någon av dem, logga ut den och byt ditt lösenord.
sessions-this = den här webbläsaren
sessions-browser-unknown = Okänd webbläsare
sessions-started = Inloggad { $date }
sessions-last-used = senast använd { $date }
sessions-location = Ungefärlig plats: { $place }
sessions-end = Logga ut från den här sessionen
sessions-ended = Sessionen har avslutats. E-tjänsterna som användes i den har fått veta om utloggningen.
sessions-unknown = Sessionen finns inte bland dina inloggningar. Den kan redan ha avslutats.
sessions-services-title = E-tjänster med tillgång till dina uppgifter
sessions-services-intro = Du har gett dessa e-tjänster lov att använda dina uppgifter, eller så kan de hämta dina uppgifter även när du inte är inloggad.
sessions-services-none = Ingen e-tjänst har ditt samtycke eller bestående tillgång till dina uppgifter.
sessions-service-scope = uppgifter: { $scope }
sessions-service-since = sedan { $date }
sessions-service-offline = tillgång även när du inte är inloggad
sessions-service-revoke = Återkalla tillgången
sessions-service-revoked = Tillgången har återkallats. E-tjänsten kan använda dina uppgifter igen först när du loggar in i den på nytt (och ger ditt samtycke igen, om den frågar).
sessions-service-unknown = Den här e-tjänsten har ingen tillgång till dina uppgifter. Tillgången kan redan ha återkallats.
