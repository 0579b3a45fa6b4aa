# Svenska: radera kontot (artikel 17 i EU:s dataskyddsförordning).

deletion-title = Radera kontot
deletion-intro = Du kan radera ditt konto och dess uppgifter. Raderingen kan ångras med en länk som skickas per e-post i { $days } dagar.
deletion-start = Radera kontot…
deletion-confirm-intro = När du raderar ditt konto:
deletion-what-sessions = Alla dina inloggningar avslutas, och e-tjänsterna som du har gett tillstånd förlorar åtkomsten till dina uppgifter.
deletion-what-undo = Vi skickar en länk till din adress som ångrar raderingen i { $days } dagar. Under tiden kan kontot inte användas.
deletion-what-erased = Därefter raderas ditt namn, din adress, ditt lösenord, dina nycklar och dina övriga uppgifter för gott, också dina tidigare användarnamn.
deletion-what-kept = Kvar blir bara kontots identifierare, så att den aldrig ges till någon annan, och händelseloggen utan ditt namn och din adress.
deletion-password-hint = Bekräfta raderingen med ditt nuvarande lösenord.
deletion-confirm = Radera mitt konto
deletion-cancel = Avbryt och gå tillbaka till kontouppgifterna
deletion-requested-title = Ditt konto raderas
deletion-requested = Ditt konto raderas för gott { $date }. Alla dina inloggningar har avslutats. Vi skickade en länk till din adress som ångrar raderingen fram till dess.
deletion-requested-no-mail = Ditt konto raderas för gott { $date }. Alla dina inloggningar har avslutats. Kontot har ingen e-postadress: kontakta kundtjänsten om du vill ångra raderingen.
deletion-pending-title = Kontot raderas
deletion-pending = Det här kontot håller på att raderas. Länken vi skickade till din adress ångrar raderingen fram till { $date }.
deletion-undo-title = Ångra raderingen av kontot
deletion-undo-intro = Vill du återställa ditt konto? Annars raderas det för gott { $date }.
deletion-undo = Återställ mitt konto
deletion-undone-title = Ditt konto har återställts
deletion-undone = Ditt konto har återställts. Inloggningarna och e-tjänsternas tillstånd återställdes inte: logga in på nytt.
mail-account_deleted-subject = Ditt konto raderas – { $tenant }
mail-account_deleted-intro = Ditt konto hos { $tenant } raderas för gott { $date }. Alla dina inloggningar har avslutats.
mail-account_deleted-undo = Om du vill behålla ditt konto, eller om du inte själv bad om raderingen, ångra den via den här länken fram till { $date }:
mail-account_deleted-button = Återställ mitt konto
