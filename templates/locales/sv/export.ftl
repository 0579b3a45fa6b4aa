# Svenska: hämta sina egna uppgifter från kontosidan (EU:s dataskyddsförordning, artikel 15 och 20).

export-title = Mina uppgifter
export-intro = Du kan ladda ner alla uppgifter som den här tjänsten har sparat om dig: ditt konto, tidigare användarnamn som kopplats till det, dina inloggningar, e-tjänster som du har gett tillstånd, dina nycklar (passkeys) och händelser som gäller ditt konto. Filen är i JSON-format. Den innehåller inga lösenord eller andra hemligheter.
export-download = Ladda ner mina uppgifter
